"""Which database a management command works on, and a plain refusal when it is not ready.

The demo and every `manage.py` command read the same settings (SYNC_VAR_DIR, DATABASE_URL);
a command that reads or writes configuration names the database it uses, and one run
against a missing or unmigrated database says what to run instead of a traceback (and,
on SQLite, without leaving an empty database file behind).
"""
from __future__ import annotations

from pathlib import Path

from django.apps import apps
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections

MIGRATE = ".venv/bin/python manage.py migrate"


def database_described(alias: str = DEFAULT_DB_ALIAS) -> str:
    """"SQLite /path/sync.sqlite3" or "PostgreSQL sync on host:5432" (never a password)."""
    settings = connections[alias].settings_dict
    if connections[alias].vendor == "sqlite":
        return f"SQLite {settings['NAME']}"
    where = f" on {settings.get('HOST') or 'localhost'}:{settings.get('PORT') or 'default port'}"
    return f"{connections[alias].display_name} {settings['NAME']}{where}"


def database_require(*models: str, alias: str = DEFAULT_DB_ALIAS) -> None:
    """Refuse (CommandError, one line) unless the database exists and holds the tables of
    `models` ("app_label.ModelName"). Checked before anything else opens a connection,
    so a missing SQLite file is not created empty."""
    connection = connections[alias]
    if connection.vendor == "sqlite" and not connection.is_in_memory_db():
        path = Path(str(connection.settings_dict["NAME"]))
        if not path.exists():
            raise CommandError(
                f"No hub database at {path}. Start bin/demo or run `{MIGRATE}` first; "
                "set SYNC_VAR_DIR (the demo's folder) or DATABASE_URL to use another one.")
    tables = set(connection.introspection.table_names())
    missing = sorted(model._meta.db_table for model in map(apps.get_model, models)
                     if model._meta.db_table not in tables)
    if missing:
        raise CommandError(
            f"The hub database ({database_described(alias)}) has no table {', '.join(missing)}: "
            f"run `{MIGRATE}` first.")
