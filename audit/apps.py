from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Configuration history"

    def ready(self) -> None:
        from .signals import audit_connect

        audit_connect()
