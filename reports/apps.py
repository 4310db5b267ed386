from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Finance's room. Its own app (label "reports") because its rows (read-back
    snapshots, re-send requests) and its pages answer finance's question, not the
    engine's: the engine moves records, this room checks what arrived."""

    name = "reports"
    label = "reports"
    verbose_name = "Finance reports"

    def ready(self) -> None:
        from audit.registry import audit_register
        from audit.signals import audit_connect

        # A re-send moves money figures at a destination: who asked, when and for which
        # documents is kept in the audit trail like a configuration change.
        audit_register("reports.Resend", parent="flow")
        audit_connect()
