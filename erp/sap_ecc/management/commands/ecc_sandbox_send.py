"""manage.py ecc_sandbox_send: the demo ECC company sends its day of IDocs to the hub."""
from __future__ import annotations

import json
import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from erp.sap_ecc.sandbox.demo import DEMO_DOCNUM_START, PARTNER_USER, PASSWORD_ENV, demo_packets, demo_writer
from erp.sap_ecc.sandbox.sender import post_packets, write_files

DEFAULT_URL = "http://127.0.0.1:8000/ecc/demo-ecc/idocs"


class Command(BaseCommand):
    help = ("Send the demo ECC company's IDocs (customers, materials, stock, orders with an edit and a "
            "cancellation, partial deliveries, invoices, a credit memo, goods movements) to the hub as SAP's "
            "XML-HTTP port does, or write them as SAP's XML file port does (--folder). The same --docnum-start "
            "gives the same IDoc numbers, so sending twice shows the hub acknowledging duplicates.")

    def add_arguments(self, parser):
        parser.add_argument("--url", default=DEFAULT_URL, help=f"The hub's IDoc endpoint (default {DEFAULT_URL}).")
        parser.add_argument("--user", default=PARTNER_USER, help="Basic-auth user of the sending partner.")
        parser.add_argument("--password-env", default=PASSWORD_ENV,
                            help="Environment variable holding that user's password.")
        parser.add_argument("--folder", help="Write IDoc-XML files here instead of posting them.")
        parser.add_argument("--docnum-start", type=int, default=DEMO_DOCNUM_START,
                            help="The first IDoc number (DOCNUM); later IDocs count up from it.")
        parser.add_argument("--only", action="append", metavar="MESTYP",
                            help="Send only packets of this message type (DEBMAS, ORDRSP, DESADV, ...); repeatable.")
        parser.add_argument("--timeout", type=float, default=30.0)

    def handle(self, *args, url, user, password_env, folder=None, docnum_start, only=None, timeout, **options):
        if not settings.SANDBOXES_ENABLED:
            raise CommandError("Sandboxes are off (SANDBOXES_ENABLED=false).")
        packets = demo_packets(demo_writer(docnum_start=docnum_start))
        if only:
            wanted = {name.upper() for name in only}
            packets = [(label, body) for label, body in packets if label.split()[0] in wanted]
        if folder:
            for (label, _), path in zip(packets, write_files(folder, packets), strict=True):
                self.stdout.write(f"{label}: written {path}")
            return
        password = os.environ.get(password_env)
        if not password:
            raise CommandError(f"Set {password_env} to the password of {user} (bin/demo does).")
        failed = 0
        for label, status, text in post_packets(url, packets, user=user, password=password, timeout=timeout):
            failed += not 200 <= status < 300
            self.stdout.write(f"{label}: {status or 'no answer'} {_answer(text)}")
        if failed:
            raise CommandError(f"{failed} of {len(packets)} packets were not accepted.")


def _answer(text: str) -> str:
    """The hub's JSON answer in a few words; any other answer shortened."""
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and "received" in answer:
        words = f"received {answer.get('received', 0)}, duplicates {answer.get('duplicates', 0)}"
        return words + (f", refused: {answer['refused']}" if answer.get("refused") else "")
    flat = " ".join(text.split())
    return flat if len(flat) <= 200 else flat[:197] + "..."
