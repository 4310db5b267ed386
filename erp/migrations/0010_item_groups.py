"""Product categories (issue 15): the ERP's item groups, and each item's category code
(SAP B1 item group, ECC material group) and ECC product hierarchy."""
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("erp", "0009_hot_path_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="item",
            name="category_code",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="item",
            name="product_hierarchy",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.CreateModel(
            name="ItemGroup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("code", models.CharField(max_length=40)),
                ("name", models.CharField(blank=True, max_length=200)),
                ("raw", models.JSONField(blank=True, default=dict)),
                ("content_hash", models.CharField(max_length=64)),
                ("mirrored_at", models.DateTimeField(auto_now=True)),
                ("connection", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                                 related_name="+", to="erp.erpconnection")),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("connection", "code"), name="item_group_unique")],
            },
        ),
    ]
