"""Import campaign activity, then attribute orders again.

    manage.py campaigns_import --dotdigital ACCOUNT            # resume or continue the API import
    manage.py campaigns_import --ometria ACCOUNT --folder DIR  # every *.csv in DIR, moved to DIR/imported/
    manage.py campaigns_import --attribute-only
"""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from esp.models import EspAccount

from ...attribution import attribution_run
from ...dotdigital_import import ImportInProgress, activity_import_dotdigital
from ...ometria_import import activity_import_ometria_folder


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--dotdigital", metavar="ACCOUNT", help="a dotdigital account's name")
        parser.add_argument("--ometria", metavar="ACCOUNT", help="an Ometria account's name")
        parser.add_argument("--folder", type=Path, help="where Ometria's Email Events files are dropped")
        parser.add_argument("--attribute-only", action="store_true")

    def handle(self, *args, **options):
        if options["dotdigital"]:
            try:
                job = activity_import_dotdigital(account=self._account(options["dotdigital"], "dotdigital"))
            except ImportInProgress as busy:
                raise CommandError(str(busy)) from None
            self.stdout.write(f"dotdigital: {job.get_status_display()}, {job.rows_added} new events, "
                              f"{job.rows_refused} refused{': ' + job.error if job.error else ''}")
        if options["ometria"]:
            if not options["folder"] or not options["folder"].is_dir():
                raise CommandError("--ometria needs --folder, an existing folder")
            for job in activity_import_ometria_folder(account=self._account(options["ometria"], "ometria"),
                                                      folder=options["folder"]):
                self.stdout.write(f"{job.file_name}: {job.get_status_display()}, {job.rows_added} new events, "
                                  f"{job.rows_refused} refused{': ' + job.error if job.error else ''}")
        if not (options["dotdigital"] or options["ometria"] or options["attribute_only"]):
            raise CommandError("name --dotdigital ACCOUNT, --ometria ACCOUNT --folder DIR, or --attribute-only")
        run = attribution_run()
        self.stdout.write(f"attribution: {run.orders_attributed} orders credited ({run.get_model_display()})")

    def _account(self, name: str, kind: str) -> EspAccount:
        try:
            return EspAccount.objects.get(name=name, kind=kind)
        except EspAccount.DoesNotExist:
            raise CommandError(f"no {kind} account named {name!r}") from None
