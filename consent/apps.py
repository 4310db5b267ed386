from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    label = "consent"
    verbose_name = "Consent"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import tasks  # noqa: F401 - registers the tasks with Celery
