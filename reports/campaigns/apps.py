from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "reports.campaigns"
    label = "campaigns"
    verbose_name = "Campaign attribution"

    def ready(self) -> None:
        from audit.registry import audit_register
        from audit.signals import audit_connect

        # Who changed the attribution rules, and when, is part of reading the numbers. The
        # receivers were connected before this app registered; connecting again is idempotent.
        audit_register("campaigns.AttributionSettings")
        audit_connect()
