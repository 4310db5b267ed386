from django.apps import AppConfig


class DriftConfig(AppConfig):
    name = "syncapp.drift"
    label = "drift"
    verbose_name = "Drift detection"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import tasks  # noqa: F401 - registers the tasks with Celery
