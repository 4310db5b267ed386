"""manage.py seed_demo: configuration for the sandbox demo company (idempotent)."""
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from erp.models import ErpConnection
from esp.default_mappings import mappings_install_defaults
from esp.models import EspAccount, SkuRule, WarehouseRule
from syncapp.models import Flow
from syncapp.schedules import schedules_install_defaults

SAP_PORT, DOTDIGITAL_PORT, OMETRIA_PORT = 8101, 8102, 8103


class Command(BaseCommand):
    help = ("Configure the demo: a sandbox SAP B1 company feeding a sandbox dotdigital account and a sandbox "
            "Ometria account, their flows, schedules.")

    def add_arguments(self, parser):
        parser.add_argument("--sap-port", type=int, default=SAP_PORT)
        parser.add_argument("--dotdigital-port", type=int, default=DOTDIGITAL_PORT)
        parser.add_argument("--ometria-port", type=int, default=OMETRIA_PORT)

    def handle(self, *args, sap_port, dotdigital_port, ometria_port, **options):
        if not settings.SANDBOXES_ENABLED:
            raise CommandError("The demo needs SANDBOXES_ENABLED=true.")
        connection, _ = ErpConnection.objects.update_or_create(name="demo-b1", defaults={
            "kind": "sap_b1", "base_url": f"http://127.0.0.1:{sap_port}/b1s/v1", "company_db": "SBODEMOGB",
            "username": "manager", "password_env": "DEMO_SAP_B1_PASSWORD", "verify_tls": False,
            "user_fields": ["U_LoyaltyTier", "U_MarketingConsent", "U_Birthday"]})
        account, _ = EspAccount.objects.update_or_create(name="demo-dotdigital", defaults={
            "kind": "dotdigital", "region": "r1", "base_url": f"http://127.0.0.1:{dotdigital_port}/{{region}}",
            "api_user": "apiuser-demo@apiconnector.com", "password_env": "DEMO_DOTDIGITAL_PASSWORD"})
        created = mappings_install_defaults(destination=account)
        Flow.objects.update_or_create(name="demo-customers", defaults={
            "connection": connection, "destination": account, "entity": "customers"})
        for name, entity in (("demo-products", "products"), ("demo-stock-signals", "stock_events"),
                             ("demo-orders", "orders"), ("demo-dispatch-signals", "dispatch_events")):
            Flow.objects.update_or_create(name=name, defaults={
                "connection": connection, "destination": account, "entity": entity})
        # The same company into Ometria too: each destination keeps its own state, exceptions and rate.
        ometria, _ = EspAccount.objects.update_or_create(name="demo-ometria", defaults={
            "kind": "ometria", "base_url": f"http://127.0.0.1:{ometria_port}", "api_user": "",
            "password_env": "DEMO_OMETRIA_API_KEY",
            "options": {"collection": "demo_customers", "validation_grace_seconds": 10}})
        created += mappings_install_defaults(destination=ometria)
        for name, entity in (("demo-ometria-customers", "customers"), ("demo-ometria-orders", "orders")):
            Flow.objects.update_or_create(name=name, defaults={
                "connection": connection, "destination": ometria, "entity": entity})
        # The wholesale warehouse is ring-fenced: its stock is not for the web shop.
        WarehouseRule.objects.get_or_create(destination=account, channel="",
                                            defaults={"excluded_warehouses": ["WHS-WHOLESALE"]})
        SkuRule.objects.get_or_create(connection=connection)
        schedules_install_defaults()
        user_model = get_user_model()
        if not user_model.objects.filter(username="admin").exists():
            user_model.objects.create_superuser("admin", "admin@example.com", "admin")
        flows = ", ".join(Flow.objects.order_by("name").values_list("name", flat=True))
        self.stdout.write(self.style.SUCCESS(
            f"demo configured: connection {connection.name}, destinations {account.name} and {ometria.name} "
            f"({created} mappings added), flows {flows}, user admin / admin"))
