"""The Celery app. Celery only wakes workers: the outbox in the database is the queue of record."""
import logging.config
import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncapp.settings")

# With the broker down, `task.delay` must fail within a few seconds (the caller then puts
# its rows back and says so) rather than hang a web request on TCP's own timeouts:
# at most two connection attempts of 2 s each. socket_timeout (a broker gone without
# closing the connection) stays above the workers' 1 s BRPOP so an idle wait is not cut short.
REDIS_BROKER_TIMEOUTS = {"socket_connect_timeout": 2, "socket_timeout": 5}
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}

app = Celery("syncapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def bound_broker_waits(sender: Celery, **kwargs) -> None:
    """Finite broker timeouts unless the settings chose their own."""
    conf = sender.conf
    if str(conf.broker_url).startswith(("redis://", "rediss://")):
        conf.broker_transport_options = {**REDIS_BROKER_TIMEOUTS, **(conf.broker_transport_options or {})}
    conf.broker_connection_timeout = 2  # the same bound for other transports
    conf.task_publish_retry_policy = PUBLISH_RETRY_POLICY


@setup_logging.connect
def use_django_logging(**kwargs) -> None:
    """Workers and beat log through Django's LOGGING, so the redaction filter applies
    there too (Celery would otherwise install its own handlers without it)."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
