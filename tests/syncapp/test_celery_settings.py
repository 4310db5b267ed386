"""Celery's documented production settings: acks late, one message at a time, and a
Redis visibility timeout longer than any task may run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def celery_conf(**env) -> dict:
    code = ("import django, json; django.setup(); from syncapp.celery import app; c = app.conf; "
            "print(json.dumps({'acks_late': c.task_acks_late, 'prefetch': c.worker_prefetch_multiplier,"
            "'reject_lost': c.task_reject_on_worker_lost, 'time_limit': c.task_time_limit,"
            "'transport': c.broker_transport_options}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "syncapp.settings", **env}, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_workers_acknowledge_late_and_take_one_message_at_a_time():
    conf = celery_conf(CELERY_BROKER_URL="redis://127.0.0.1:6379/15")
    assert conf["acks_late"] is True and conf["reject_lost"] is True and conf["prefetch"] == 1


def test_the_redis_visibility_timeout_outlasts_the_longest_task():
    conf = celery_conf(CELERY_BROKER_URL="redis://127.0.0.1:6379/15")
    assert conf["transport"]["visibility_timeout"] > conf["time_limit"] > 0
    shorter = celery_conf(CELERY_BROKER_URL="redis://127.0.0.1:6379/15", CELERY_VISIBILITY_TIMEOUT="600",
                          CELERY_TASK_TIME_LIMIT="300")
    assert shorter["transport"]["visibility_timeout"] == 600 and shorter["time_limit"] == 300
    assert shorter["transport"]["socket_connect_timeout"] == 2  # the broker-fault bounds stay
