"""Run the engagement write-back once for one SAP B1 connection (or only its set-up)."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from erp.models import ErpConnection
from syncapp.management.secrets import secrets_required


class Command(BaseCommand):
    help = ("Write contacts' email engagement (opens, clicks, last campaign, email status) to their Business "
            "Partners' user fields in SAP B1, once. --setup only checks (and creates) the user fields.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("connection", help="The SAP B1 connection's name.")
        parser.add_argument("--setup", action="store_true", help="Only check and create the user fields.")
        parser.add_argument("--no-import", action="store_true",
                            help="Do not import dotdigital campaign activity first; use what the hub holds.")

    @secrets_required
    def handle(self, *args, connection: str, setup: bool, no_import: bool, **options) -> None:
        from engagement.fields import FieldNamesInvalid, field_names
        from engagement.setup import SetupRefused, user_fields_ensure
        from engagement.writeback import client_for, engagement_writeback, writeback_settings_for
        from syncapp.adapters import TransportError

        erp = ErpConnection.objects.filter(name=connection, kind=ErpConnection.Kind.SAP_B1).first()
        if erp is None:
            raise CommandError(f"No SAP B1 connection named {connection!r}.")
        if setup:
            client = client_for(erp)
            try:
                created = user_fields_ensure(client=client, names=field_names(writeback_settings_for(erp).field_names))
            except (FieldNamesInvalid, SetupRefused, TransportError) as error:
                raise CommandError(str(error)) from None
            finally:
                client.logout()
            self.stdout.write(f"User fields created: {', '.join(created) or 'none (all present)'}")
            return
        run = engagement_writeback(connection=erp, import_activity=False if no_import else None)
        if run is None:
            raise CommandError(f"A write-back of {erp.name} is already running; nothing was done.")
        self.stdout.write(f"{run.get_status_display()}: {run.partners_changed} partner(s) changed, "
                          f"{run.partners_written} written, {run.partners_failed} refused, "
                          f"{run.calls} request(s) for {run.patches} write(s).")
        if run.error:
            self.stdout.write(self.style.WARNING(run.error))
