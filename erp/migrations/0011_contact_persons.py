"""B2B contact persons (issue 15): SAP B1 ContactEmployees as child rows of a Business Partner,
the buyer named on each document, and whether a company with buyers is a contact itself."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('erp', '0010_item_groups'),
    ]

    operations = [
        *[migrations.AddField(model_name=model, name="contact_person_code", field=models.IntegerField(
            blank=True, null=True, help_text="The buyer at the customer who placed it (SAP B1 ContactPersonCode)."))
          for model in ("salesorder", "delivery", "invoice", "creditmemo", "return")],
        migrations.AddField(
            model_name='erpconnection',
            name='company_email_as_contact',
            field=models.BooleanField(default=True, help_text='A company with contact persons is also a contact itself, under its main email (the contact persons are contacts of their own either way).'),
        ),
        migrations.CreateModel(
            name='ContactPerson',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('card_code', models.CharField(max_length=50)),
                ('code', models.IntegerField(help_text="SAP's InternalCode (OCPR.CntctCode).")),
                ('name', models.CharField(blank=True, help_text="SAP's contact ID (Name).", max_length=100)),
                ('first_name', models.CharField(blank=True, max_length=100)),
                ('last_name', models.CharField(blank=True, max_length=100)),
                ('position', models.CharField(blank=True, max_length=100)),
                ('email', models.CharField(blank=True, max_length=254)),
                ('email_normalised', models.CharField(blank=True, max_length=254)),
                ('phone1', models.CharField(blank=True, max_length=50)),
                ('phone2', models.CharField(blank=True, max_length=50)),
                ('mobile', models.CharField(blank=True, max_length=50)),
                ('active', models.BooleanField(default=True)),
                ('marketing_blocked', models.BooleanField(default=False, help_text="SAP's BlockSendingMarketingContent: the person asked for no marketing.")),
                ('udfs', models.JSONField(blank=True, default=dict)),
                ('removed', models.BooleanField(default=False, help_text='The ERP no longer lists this person.')),
                ('mirrored_at', models.DateTimeField(auto_now=True)),
                ('connection', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='erp.erpconnection')),
            ],
            options={
                'indexes': [models.Index(fields=['connection', 'email_normalised'], name='contact_person_email_idx')],
                'constraints': [models.UniqueConstraint(fields=('connection', 'card_code', 'code'), name='contact_person_unique')],
            },
        ),
    ]
