"""Field ownership becomes configuration (issue 15): each mapping names its owner. Existing
mappings get the owner the drift check gave them by name until now, so nothing a
destination owns starts being overwritten."""
from django.db import migrations, models


def owners_by_name(apps, schema_editor):
    from esp.ownership import DESTINATION, default_owner

    FieldMapping = apps.get_model("esp", "FieldMapping")
    owned = [m.pk for m in FieldMapping.objects.only("pk", "target_field")
             if default_owner(m.target_field) == DESTINATION]
    FieldMapping.objects.filter(pk__in=owned).update(owner=DESTINATION)


class Migration(migrations.Migration):
    dependencies = [("esp", "0008_loyalty_tier_without_literal_none")]
    operations = [
        migrations.AddField(
            model_name="fieldmapping",
            name="owner",
            field=models.CharField(
                choices=[("erp", "ERP"), ("destination", "Destination")], default="erp", max_length=12,
                help_text="Who may change the field (esp/ownership.py). ERP: the hub sends it and puts it back "
                          "when changed at the destination. Destination (consent, engagement): only its starting "
                          "value goes with a new contact; the destination's value is never overwritten, and a "
                          "write-back may copy it to the ERP's user field."),
        ),
        migrations.RunPython(owners_by_name, migrations.RunPython.noop),
    ]
