"""manage.py seed_demo_ecc: a sandbox SAP ECC company beside the SAP B1 one (idempotent).

Its IDocs go to the same sandbox dotdigital and Ometria accounts `seed_demo` made: the
ERP differs, everything downstream is the same."""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from erp.models import ErpConnection
from erp.sap_ecc.models import EccInbound
from esp.models import EspAccount, SkuRule
from syncapp.models import Flow
from syncapp.schedules import schedules_install_defaults

SENDER = "ECDCLNT800"
DOTDIGITAL_FLOWS = (("customers", "customers"), ("products", "products"), ("stock-signals", "stock_events"),
                    ("orders", "orders"), ("dispatch-signals", "dispatch_events"))
OMETRIA_FLOWS = (("customers", "customers"), ("orders", "orders"))


class Command(BaseCommand):
    help = "Configure the demo's SAP ECC connection (IDocs from ECDCLNT800) and its flows; run seed_demo first."

    def add_arguments(self, parser):
        parser.add_argument("--inbound-folder", default="", help="The XML file port's folder.")

    def handle(self, *args, inbound_folder: str, **options):
        if not settings.SANDBOXES_ENABLED:
            raise CommandError("The demo needs SANDBOXES_ENABLED=true.")
        try:
            dotdigital = EspAccount.objects.get(name="demo-dotdigital")
            ometria = EspAccount.objects.get(name="demo-ometria")
        except EspAccount.DoesNotExist:
            raise CommandError("Run manage.py seed_demo first: the ECC demo sends to its accounts.") from None
        connection, _ = ErpConnection.objects.update_or_create(name="demo-ecc", defaults={
            "kind": ErpConnection.Kind.SAP_ECC, "base_url": "", "company_db": "", "username": "ECC_PARTNER",
            "password_env": "DEMO_SAP_ECC_PASSWORD", "user_fields": []})
        EccInbound.objects.update_or_create(connection=connection, defaults={
            "sender_partner": SENDER, "inbound_folder": inbound_folder, "credit_memo_types": ["G2", "RE", "CRME"]})
        SkuRule.objects.get_or_create(connection=connection)  # 000000000010001547 is SKU 10001547
        for suffix, entity in DOTDIGITAL_FLOWS:
            Flow.objects.update_or_create(name=f"demo-ecc-{suffix}", defaults={
                "connection": connection, "destination": dotdigital, "entity": entity})
        for suffix, entity in OMETRIA_FLOWS:
            Flow.objects.update_or_create(name=f"demo-ecc-ometria-{suffix}", defaults={
                "connection": connection, "destination": ometria, "entity": entity})
        schedules_install_defaults()
        self.stdout.write(self.style.SUCCESS(
            f"demo ECC configured: connection {connection.name} takes IDocs from {SENDER} at "
            f"/ecc/{connection.name}/idocs (user ECC_PARTNER, password from DEMO_SAP_ECC_PASSWORD)"))
