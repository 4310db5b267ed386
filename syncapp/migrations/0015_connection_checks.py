# Connection statuses for the health page (issue 14, part 3): incidents from when to when, and the probe's last word.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('erp', '0009_hot_path_keys'),
        ('esp', '0008_loyalty_tier_without_literal_none'),
        ('syncapp', '0014_run_outcomes'),
    ]

    operations = [
        migrations.CreateModel(
            name='ConnectionCheck',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('checked_at', models.DateTimeField()),
                ('ok', models.BooleanField(default=False)),
                ('answered_at', models.DateTimeField(blank=True, help_text='The last check that went through.', null=True)),
                ('detail', models.CharField(blank=True, max_length=300)),
                ('destination', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='esp.espaccount')),
                ('erp_connection', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='erp.erpconnection')),
            ],
            options={
                'constraints': [models.CheckConstraint(condition=models.Q(('erp_connection__isnull', True), ('destination__isnull', True), _connector='XOR'), name='connection_check_one_side')],
            },
        ),
        migrations.CreateModel(
            name='ConnectionIncident',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('unreachable', 'Unreachable'), ('credentials', 'Credentials refused'), ('rate_limited', '429 storm')], max_length=20)),
                ('detail', models.TextField(blank=True)),
                ('opened_at', models.DateTimeField()),
                ('last_seen_at', models.DateTimeField()),
                ('seen', models.PositiveIntegerField(default=1, help_text='Times the trouble was met while the incident was open.')),
                ('closed_at', models.DateTimeField(blank=True, null=True)),
                ('destination', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='esp.espaccount')),
                ('erp_connection', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='erp.erpconnection')),
            ],
            options={
                'indexes': [models.Index(fields=['-opened_at'], name='conn_incident_recent_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('erp_connection__isnull', True), ('destination__isnull', True), _connector='XOR'), name='connection_incident_one_side'), models.UniqueConstraint(condition=models.Q(('closed_at__isnull', True), ('erp_connection__isnull', False)), fields=('kind', 'erp_connection'), name='connection_incident_one_open_erp'), models.UniqueConstraint(condition=models.Q(('closed_at__isnull', True), ('destination__isnull', False)), fields=('kind', 'destination'), name='connection_incident_one_open_dest')],
            },
        ),
    ]
