"""The seeded loyalty-tier mapping sent the word "None" for a partner with no tier; a
mapping still exactly as seeded sends no value instead (an admin's own default is kept)."""
from django.db import migrations


def no_literal_none(apps, schema_editor):
    FieldMapping = apps.get_model("esp", "FieldMapping")
    FieldMapping.objects.filter(source_field="U_LoyaltyTier", transform="default", transform_arg="None").update(
        transform="trim", transform_arg=None)


class Migration(migrations.Migration):
    dependencies = [("esp", "0007_verbose_names")]
    operations = [migrations.RunPython(no_literal_none, migrations.RunPython.noop)]
