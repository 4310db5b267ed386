from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('syncapp', '0020_accepted_generation'),
    ]

    operations = [
        migrations.AddField(
            model_name='outboxitem',
            name='sent_generation',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
    ]
