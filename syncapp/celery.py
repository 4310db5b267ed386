"""The Celery app. Celery only wakes workers: the outbox in the database is the queue of record."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncapp.settings")

app = Celery("syncapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
