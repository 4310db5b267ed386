"""manage.py demo_reset: begin the hub's database again, as the demo's sandboxes do at every start.

bin/demo runs it before `migrate`: the sandboxes begin again from their seed, so the hub
must too, or it would hold contacts, outbox rows and exceptions the sandboxes never saw.
On SQLite the file goes (migrate builds it again, data migrations included); on another
database every table is emptied and the role groups made again. The embedded broker's
queued tasks go too. Refused outside the demo (sandboxes off, or production)."""
import shutil
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from syncapp.management.database import database_described
from syncapp.roles import FINANCE, INTEGRATION_ADMIN, MARKETING, WEB_SHOP


class Command(BaseCommand):
    help = "Demo only: begin the hub's database and the filesystem broker again, to match the fresh sandboxes."

    def handle(self, *args, **options):
        if not settings.SANDBOXES_ENABLED or settings.SYNC_ENVIRONMENT == "production":
            raise CommandError("demo_reset empties the database: it runs only for the demo (SANDBOXES_ENABLED, "
                               "not production).")
        described = database_described()
        if connection.vendor == "sqlite":
            connection.close()
            name = str(connection.settings_dict["NAME"])
            for suffix in ("", "-wal", "-shm"):
                Path(name + suffix).unlink(missing_ok=True)
        elif "auth_group" in connection.introspection.table_names():
            call_command("flush", interactive=False, verbosity=0)
            for role in (MARKETING, FINANCE, INTEGRATION_ADMIN, WEB_SHOP):  # made by data migrations
                Group.objects.get_or_create(name=role)
        broker = settings.VAR_DIR / "broker" / "in"
        if broker.is_dir():  # tasks queued by the last run name records that no longer exist
            shutil.rmtree(broker)
            broker.mkdir(parents=True)
        self.stdout.write(f"Hub database begun again for a fresh demo: {described}")
