"""A backfill in its own process lowers its CPU priority, so on a host it shares with the
workers the new orders' pulls and pushes get the cores first (issue 12, part 3: a new order
within one interval plus a few seconds while a 100,000-order backfill runs)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.factories import FlowFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("step", "lowered_by"), [("7", 7), ("0", 0)])
def test_the_backfill_process_runs_at_the_configured_lower_priority(step, lowered_by):
    before = os.getpriority(os.PRIO_PROCESS, 0)
    script = ("import django, os; django.setup(); from syncapp.cpu_priority import backfill_yields_cpu; "
              "print(backfill_yields_cpu(), os.getpriority(os.PRIO_PROCESS, 0))")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "syncapp.settings", "SYNC_BACKFILL_NICE": step}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()

    assert [int(value) for value in out] == [min(before + lowered_by, 19)] * 2


@pytest.mark.django_db
def test_manage_py_backfill_lowers_its_priority_before_it_reads(monkeypatch):
    flow = FlowFactory(entity="customers")
    steps: list[str] = []

    def read(**kwargs):
        steps.append("read")
        raise RuntimeError("enough: the read had begun")

    monkeypatch.setattr("syncapp.management.commands.backfill.backfill_yields_cpu", lambda: steps.append("nice"))
    monkeypatch.setattr("syncapp.management.commands.backfill.connection_pull", read)

    with pytest.raises(RuntimeError, match="the read had begun"):
        call_command("backfill", "--entity", "customers", "--flow", flow.name, "--no-progress")

    assert steps == ["nice", "read"]
