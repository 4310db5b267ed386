"""manage.py apply_config FILE: create or update the configuration a file describes."""
import json
from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError

from audit.context import acting_as
from syncapp.config import ConfigError, config_apply


class Command(BaseCommand):
    help = "Apply a configuration file (YAML or JSON) written by export_config."

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file, **options):
        path = Path(file)
        if not path.exists():
            raise CommandError(f"No such file: {file}")
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as error:
            kind = "JSON" if path.suffix == ".json" else "YAML"
            raise CommandError(f"{file} is not valid {kind}: {error}") from error
        if not isinstance(data, dict):
            raise CommandError(f"{file} must hold a mapping at the top level.")
        try:
            with acting_as("system:apply_config"):  # who the audit trail names for these changes
                counts = config_apply(data)
        except (ConfigError, KeyError, TypeError) as error:
            raise CommandError(f"Not applied (nothing changed): {error}") from error
        self.stdout.write(self.style.SUCCESS(
            "applied: " + ", ".join(f"{n} {kind}" for kind, n in counts.items())))
