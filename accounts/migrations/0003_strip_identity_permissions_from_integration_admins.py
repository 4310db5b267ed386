"""Integration admins no longer hold permissions on users, groups or tokens: before, the group
was given auth.user/auth.group and authtoken permissions after each migrate, and with them
an admin could make itself superuser. Only superusers manage identities now."""
from django.db import migrations

INTEGRATION_ADMIN = "Integration admin"  # syncapp.roles.INTEGRATION_ADMIN, as of this migration
IDENTITY_APPS = ("auth", "authtoken", "accounts")


def identity_permissions_strip(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name=INTEGRATION_ADMIN):
        group.permissions.remove(*group.permissions.filter(content_type__app_label__in=IDENTITY_APPS))


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_throttle_cache_table"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(identity_permissions_strip, migrations.RunPython.noop)]
