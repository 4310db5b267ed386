"""manage.py apply_config FILE: create or update the configuration a file describes."""
import json
from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError

from audit.context import acting_as
from syncapp.config import ConfigError, config_apply, config_plan
from syncapp.management.commands.export_config import CONFIG_MODELS
from syncapp.management.database import database_described, database_require


class Command(BaseCommand):
    help = "Apply a configuration file (YAML or JSON) written by export_config."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--plan", action="store_true",
                            help="Print what would change (field by field) and how many records each "
                                 "re-planned flow would send again; write nothing.")

    def handle(self, *args, file, plan=False, **options):
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
        database_require(*CONFIG_MODELS)
        self.stderr.write(f"Database: {database_described()}")
        if plan:
            return self._plan(data)
        try:
            with acting_as("system:apply_config"):  # who the audit trail names for these changes
                counts = config_apply(data)
        except (ConfigError, KeyError, TypeError) as error:
            raise CommandError(f"Not applied (nothing changed): {error}") from error
        self.stdout.write(self.style.SUCCESS(
            "applied: " + ", ".join(f"{n} {kind}" for kind, n in counts.items())))

    def _plan(self, data) -> None:
        try:
            plan = config_plan(data)
        except (ConfigError, KeyError, TypeError) as error:
            raise CommandError(f"Would not apply: {error}") from error
        if not plan.changes:
            self.stdout.write("No changes: the hub already matches the file.")
            return
        for change in plan.changes:
            self.stdout.write(str(change))
        kinds = {kind: sum(c.kind == kind for c in plan.changes) for kind in ("added", "changed", "removed")}
        self.stdout.write(", ".join(f"{n} {kind}" for kind, n in kinds.items()) + " (nothing written)")
        for flow, count in plan.resend.items():
            self.stdout.write(f"flow {flow}: would send {count} record{'s' if count != 1 else ''} again")
