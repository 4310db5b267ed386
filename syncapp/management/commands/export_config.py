"""manage.py export_config: the configuration as YAML (or JSON), secrets by variable name only."""
import json

import yaml
from django.core.management.base import BaseCommand

from syncapp.config import config_export
from syncapp.management.database import database_described, database_require

# What export reads; their tables must be there (a clear refusal rather than a traceback).
CONFIG_MODELS = ("erp.ErpConnection", "esp.EspAccount", "esp.FieldMapping", "syncapp.Flow",
                 "django_celery_beat.PeriodicTask")


class Command(BaseCommand):
    help = "Print connections, destinations, mappings, flows and schedules as a reviewable file."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["yaml", "json"], default="yaml")
        parser.add_argument("--output", "-o", help="Write to this file instead of standard output.")

    def handle(self, *args, format="yaml", output=None, **options):
        database_require(*CONFIG_MODELS)
        self.stderr.write(f"Database: {database_described()}")
        data = config_export()
        text = (json.dumps(data, indent=2, default=str) if format == "json"
                else yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        if output:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text)
        else:
            self.stdout.write(text)
