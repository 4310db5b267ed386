"""manage.py run_sandboxes: the sandbox SAP B1 Service Layer, dotdigital and Ometria for the demo."""
import os
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from erp.sap_b1.sandbox.demo import build_demo_sandbox as build_sap_sandbox
from esp.dotdigital.sandbox import build_demo_sandbox as build_dotdigital_sandbox
from esp.ometria.sandbox import build_demo_sandbox as build_ometria_sandbox
from syncapp.sandbox_server import serve_forever


class Command(BaseCommand):
    help = "Serve the demo sandboxes (SAP B1 on 8101, dotdigital on 8102, Ometria on 8103) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--sap-port", type=int, default=8101)
        parser.add_argument("--dotdigital-port", type=int, default=8102)
        parser.add_argument("--ometria-port", type=int, default=8103)
        parser.add_argument("--customers", type=int, default=300, help="Business Partners in the demo company.")

    def handle(self, *args, host, sap_port, dotdigital_port, ometria_port, customers, **options):
        if not settings.SANDBOXES_ENABLED:
            raise CommandError("Sandboxes are off (SANDBOXES_ENABLED=false).")
        passwords = {name: os.environ.get(name) for name in ("DEMO_SAP_B1_PASSWORD", "DEMO_DOTDIGITAL_PASSWORD",
                                                             "DEMO_OMETRIA_API_KEY")}
        missing = [name for name, value in passwords.items() if not value]
        if missing:
            raise CommandError(f"Set {', '.join(missing)} (bin/demo does).")
        sap = build_sap_sandbox(customers, password=passwords["DEMO_SAP_B1_PASSWORD"])
        dotdigital = build_dotdigital_sandbox(passwords["DEMO_DOTDIGITAL_PASSWORD"], import_delay_seconds=1.0)
        # A few demo customers unsubscribed in dotdigital, so the demo shows what a
        # destination refusal looks like next to the ERP's own data problems.
        for partner in [p for p in sap.partners.values() if p.get("EmailAddress")][5:200:40]:
            dotdigital.suppress(partner["EmailAddress"].strip())
        # Ometria validates two seconds after answering, so the demo shows records waiting as "submitted".
        ometria = build_ometria_sandbox(passwords["DEMO_OMETRIA_API_KEY"], validation_delay=2.0)
        threading.Thread(target=serve_forever, args=(sap, host, sap_port), daemon=True).start()
        threading.Thread(target=serve_forever, args=(ometria, host, ometria_port), daemon=True).start()
        self.stdout.write(f"SAP B1 sandbox on http://{host}:{sap_port}/b1s/v1 ({customers} Business Partners)")
        self.stdout.write(f"Ometria sandbox on http://{host}:{ometria_port}")
        self.stdout.write(f"dotdigital sandbox on http://{host}:{dotdigital_port}/r1")
        serve_forever(dotdigital, host, dotdigital_port)
