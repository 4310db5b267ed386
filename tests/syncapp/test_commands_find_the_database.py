"""Issue 14, defects 1 and 7: management commands and the demo use one database, say which,
and refuse plainly when it is missing or not migrated; no W040 noise; a demo restart
begins the hub again as it begins the sandboxes again."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, var_dir: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(SYNC_VAR_DIR=str(var_dir), SYNC_ENVIRONMENT="development")
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_export_config_without_a_database_is_one_line_saying_what_to_run_and_creates_no_file(tmp_path):
    result = manage("export_config", "-o", str(tmp_path / "hub.yaml"), var_dir=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "manage.py migrate" in result.stderr and str(tmp_path / "sync.sqlite3") in result.stderr
    assert not (tmp_path / "sync.sqlite3").exists()  # no empty database left behind
    assert not (tmp_path / "hub.yaml").exists()


def test_export_config_on_an_unmigrated_database_names_the_missing_table_and_what_to_run(tmp_path):
    (tmp_path / "sync.sqlite3").touch()
    result = manage("export_config", var_dir=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "django_celery_beat_periodictask" in result.stderr and "manage.py migrate" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_demo_keeps_its_database_where_manage_py_finds_it():
    """bin/demo must not move the database away from the default every command reads
    (it once used var/demo while `manage.py export_config` opened var/sync.sqlite3)."""
    demo = (ROOT / "bin" / "demo").read_text()
    assert not re.search(r"^\s*export\s+[^#\n]*\bSYNC_VAR_DIR=", demo, re.MULTILINE)
    assert not re.search(r"^\s*export\s+[^#\n]*\bDATABASE_URL=", demo, re.MULTILINE)


@pytest.mark.django_db
def test_export_config_says_which_database_it_used(capsys, flow):
    call_command("export_config")
    assert "Database:" in capsys.readouterr().err


def test_no_w040_warning_on_every_command(tmp_path):
    result = manage("check", var_dir=tmp_path)
    assert result.returncode == 0
    assert "W040" not in result.stdout + result.stderr


def test_a_demo_restart_begins_the_hub_again_before_the_sandboxes_are_seeded(tmp_path):
    demo = (ROOT / "bin" / "demo").read_text()
    assert demo.index("manage.py demo_reset") < demo.index("manage.py seed_demo")
    assert manage("migrate", "--noinput", var_dir=tmp_path).returncode == 0
    assert manage("seed_demo_users", var_dir=tmp_path).returncode == 0
    database = tmp_path / "sync.sqlite3"
    import sqlite3
    assert sqlite3.connect(database).execute("SELECT COUNT(*) FROM auth_user").fetchone()[0] == 3
    env_demo = manage("demo_reset", var_dir=tmp_path)
    assert env_demo.returncode == 0, env_demo.stderr
    assert manage("migrate", "--noinput", var_dir=tmp_path).returncode == 0
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT COUNT(*) FROM auth_user").fetchone()[0] == 0
        groups = {name for (name,) in db.execute("SELECT name FROM auth_group")}
    assert {"Marketing", "Finance", "Integration admin", "Web shop"} <= groups
