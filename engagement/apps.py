from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "engagement"
    label = "engagement"
    verbose_name = "Engagement write-back"

    def ready(self) -> None:
        from audit.registry import audit_register
        from audit.signals import audit_connect
        from syncapp.retry_handlers import retry_handler_register

        from .writeback import ENTITY

        # Which fields the hub writes into SAP, and how fast, is configuration: audited.
        audit_register("engagement.WriteBackSettings", parent="connection", ignored=("fields_checked_at",
                                                                                     "updated_at"))
        audit_connect()
        # Retry on an engagement exception writes that partner again (the engine asks us).
        retry_handler_register(ENTITY, "engagement.writeback.engagement_retry")
