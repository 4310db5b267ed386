"""manage.py idoc_import <connection> [folder]: SAP's XML file port, read.

Each *.xml file in the folder is stored like a message posted over HTTP, then moved to
done/ (stored, or every IDoc already held) or failed/ (refused: unsafe, unreadable, too
large, another partner's). A file is moved only after its IDocs are committed, so a crash
in between re-imports it next time, where its IDocs are duplicates and not applied twice.
"""
from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from erp.models import ErpConnection
from erp.sap_ecc.apply import idocs_apply
from erp.sap_ecc.inbound import idocs_receive
from erp.sap_ecc.models import EccInbound


class Command(BaseCommand):
    help = "Import IDoc-XML files from a folder (SAP's XML file port) into an ECC connection."

    def add_arguments(self, parser):
        parser.add_argument("connection", help="The ECC connection's name.")
        parser.add_argument("folder", nargs="?", help="Defaults to the connection's inbound folder.")
        parser.add_argument("--no-apply", action="store_true",
                            help="Only store; the workers apply (by default they are applied here, at once).")

    def handle(self, *args, connection: str, folder: str | None, no_apply: bool = False, **options):
        inbound = EccInbound.objects.filter(connection__name=connection,
                                            connection__kind=ErpConnection.Kind.SAP_ECC).first()
        if inbound is None:
            raise CommandError(f"No SAP ECC connection called {connection!r}.")
        source = Path(folder or inbound.inbound_folder or "")
        if not str(source) or not source.is_dir():
            raise CommandError(f"No folder to read: {str(source) or '(none set on the connection)'}.")
        done, failed = source / "done", source / "failed"
        done.mkdir(exist_ok=True)
        failed.mkdir(exist_ok=True)
        counts = {"stored": 0, "duplicates": 0, "refused": 0}
        for path in sorted(source.glob("*.xml")):
            receipt = idocs_receive(connection=inbound.connection, body=path.read_bytes(), via=f"file {path.name}")
            target = failed if receipt.refused else done
            os.replace(path, target / path.name)
            counts["stored"] += len(receipt.stored)
            counts["duplicates"] += len(receipt.duplicates)
            counts["refused"] += bool(receipt.refused)
            line = f"{path.name}: " + (f"refused, moved to failed/: {receipt.refused}" if receipt.refused else
                                       f"{len(receipt.stored)} stored, {len(receipt.duplicates)} already held")
            self.stdout.write(line)
        if not no_apply:
            runs = idocs_apply(inbound.connection)
            self.stdout.write(f"applied: {sum(run.records_read for run in runs)} records in {len(runs)} runs")
        self.stdout.write(self.style.SUCCESS(
            f"{counts['stored']} IDocs stored, {counts['duplicates']} duplicates, {counts['refused']} files refused"))
