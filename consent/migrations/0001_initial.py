# Consent state and history read back from the destinations (issue 15).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('erp', '0009_hot_path_keys'),  # the last committed; nothing newer is needed
        ('esp', '0009_field_owner'),
    ]

    operations = [
        migrations.CreateModel(
            name='ConsentReadBack',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('read_until', models.DateTimeField(blank=True, null=True)),
                ('last_run_at', models.DateTimeField(blank=True, null=True)),
                ('changes', models.PositiveIntegerField(default=0, help_text='Changes read by the last run.')),
                ('unknown', models.PositiveIntegerField(default=0, help_text='Of those, for addresses no Business Partner has.')),
                ('last_error', models.TextField(blank=True)),
                ('destination', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='consent_read_back', to='esp.espaccount')),
            ],
        ),
        migrations.CreateModel(
            name='ConsentEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('card_code', models.CharField(max_length=50)),
                ('status', models.CharField(choices=[('unsubscribed', 'Unsubscribed'), ('suppressed', 'Suppressed'), ('hard_bounced', 'Hard bounced'), ('complained', 'Complained')], max_length=20)),
                ('reason', models.CharField(blank=True, max_length=100)),
                ('source', models.CharField(help_text='What reported it, e.g. dotdigital suppressed-since.', max_length=100)),
                ('occurred_at', models.DateTimeField()),
                ('recorded_at', models.DateTimeField(auto_now_add=True)),
                ('connection', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='erp.erpconnection')),
                ('destination', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='consent_events', to='esp.espaccount')),
            ],
            options={
                'ordering': ['-occurred_at', '-id'],
                'indexes': [models.Index(fields=['connection', 'card_code', '-occurred_at'], name='consent_con_connect_d7bbc6_idx')],
                'constraints': [models.UniqueConstraint(fields=('destination', 'connection', 'card_code', 'status', 'occurred_at'), name='consent_event_once')],
            },
        ),
        migrations.CreateModel(
            name='ConsentState',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('card_code', models.CharField(max_length=50)),
                ('status', models.CharField(choices=[('unsubscribed', 'Unsubscribed'), ('suppressed', 'Suppressed'), ('hard_bounced', 'Hard bounced'), ('complained', 'Complained')], max_length=20)),
                ('reason', models.CharField(blank=True, help_text="The destination's own word for it.", max_length=100)),
                ('changed_at', models.DateTimeField(help_text='When the destination says it happened.')),
                ('recorded_at', models.DateTimeField(auto_now=True)),
                ('connection', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='erp.erpconnection')),
                ('destination', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='consent_states', to='esp.espaccount')),
            ],
            options={
                'indexes': [models.Index(fields=['connection', 'card_code'], name='consent_con_connect_13ff03_idx')],
                'constraints': [models.UniqueConstraint(fields=('destination', 'connection', 'card_code'), name='consent_state_unique')],
            },
        ),
    ]
