from django.db import migrations


def create_role(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name="Web shop")


class Migration(migrations.Migration):
    dependencies = [("syncapp", "0010_flow_health")]
    operations = [migrations.RunPython(create_role, migrations.RunPython.noop)]
