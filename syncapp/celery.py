"""The Celery app. Celery only wakes workers: the outbox in the database is the queue of record."""
import logging.config
import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncapp.settings")

app = Celery("syncapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(**kwargs) -> None:
    """Workers and beat log through Django's LOGGING, so the redaction filter applies
    there too (Celery would otherwise install its own handlers without it)."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
