"""The production guard: settings refuse to start unsafe, and `check --deploy` is clean.

Each case loads the settings in a fresh interpreter, as a deployment would, so nothing
from the test process (its SQLite, its sandboxes) leaks in.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "p7Jq2vX9mL4sT8wR1nB6cY3hF5gK0dZ-aE_uQiOoWxVbNlMjHs!"
# The production variables README.md's Configuration table documents, with example values.
PRODUCTION_ENV = {
    "SYNC_ENVIRONMENT": "production",
    "SANDBOXES_ENABLED": "false",
    "SECRET_KEY": STRONG_KEY,
    "ALLOWED_HOSTS": "sync.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://sync.example.com",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
}
# Variables the settings read that must come only from each case, never from the runner's shell.
_SECURITY_VARIABLES = {"SYNC_ENVIRONMENT", "SANDBOXES_ENABLED", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG",
                       "CSRF_TRUSTED_ORIGINS", "SECURE_PROXY_SSL_HEADER", "SECURE_SSL_REDIRECT",
                       "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS",
                       "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD"}
# Set in this process by the browser tests' conftest; never in production (check --deploy refuses it).
_TEST_ONLY = {"DJANGO_ALLOW_ASYNC_UNSAFE"}
_SHOWN = ["SYNC_ENVIRONMENT", "DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
          "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SECURE_PROXY_SSL_HEADER",
          "CSRF_TRUSTED_ORIGINS", "ALLOWED_HOSTS"]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {name: value for name, value in os.environ.items() if name not in _SECURITY_VARIABLES | _TEST_ONLY}
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=False,
                          env={**base, "DATABASE_URL": "sqlite:///:memory:", **env})


def settings_load(**env: str) -> subprocess.CompletedProcess:
    """Load the settings with exactly these security variables; stdout is the chosen values as JSON."""
    code = ("import django, json, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'syncapp.settings'; django.setup(); "
            "from django.conf import settings; "
            f"print(json.dumps({{name: getattr(settings, name) for name in {_SHOWN!r}}}))")
    return _run(["-c", code], env)


def production(**changes: str | None) -> dict[str, str]:
    """The documented production environment with some variables changed (None removes one)."""
    env = {**PRODUCTION_ENV, **changes}
    return {name: value for name, value in env.items() if value is not None}


def test_production_settings_start_with_the_documented_variables():
    result = settings_load(**production())
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("spelling", ["Production", " PRODUCTION ", "production\n"])
def test_the_environment_name_is_read_without_regard_to_case_or_spaces(spelling):
    result = settings_load(**production(SYNC_ENVIRONMENT=spelling, SANDBOXES_ENABLED="true"))
    assert result.returncode != 0 and "SANDBOXES_ENABLED must be false in production" in result.stderr


def test_an_unknown_environment_name_is_refused_with_the_names_it_knows():
    result = settings_load(**production(SYNC_ENVIRONMENT="prod"))
    assert result.returncode != 0
    assert "SYNC_ENVIRONMENT must be one of development, test, production" in result.stderr


@pytest.mark.parametrize(("changes", "message"), [
    ({"DEBUG": "true"}, "DEBUG must be false in production"),
    ({"SECRET_KEY": None}, "SECRET_KEY must be set in production"),
    ({"SECRET_KEY": "dev-only-not-secret"}, "SECRET_KEY must be set in production"),
    ({"SECRET_KEY": "abc"}, "SECRET_KEY must be at least 50 characters"),
    ({"SECRET_KEY": "ab" * 40}, "SECRET_KEY must have at least 5 different characters"),
    ({"SECRET_KEY": "django-insecure-" + STRONG_KEY}, "SECRET_KEY must not be a django-insecure key"),
    ({"SANDBOXES_ENABLED": "true"}, "SANDBOXES_ENABLED must be false in production"),
    ({"SANDBOXES_ENABLED": None}, "SANDBOXES_ENABLED must be false in production"),
    ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS must be set in production"),
    ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS must be set in production"),
    ({"SECURE_PROXY_SSL_HEADER": "https"}, "SECURE_PROXY_SSL_HEADER must be a header and a value"),
], ids=["debug", "no-key", "default-key", "short-key", "few-characters-key", "insecure-key", "sandboxes-on",
        "sandboxes-by-default", "no-hosts", "empty-hosts", "bad-proxy-header"])
def test_production_refuses_each_unsafe_setting_with_its_reason(changes, message):
    result = settings_load(**production(**changes))
    assert result.returncode != 0 and message in result.stderr, result.stderr[-2000:]


def test_production_asks_for_https_only_cookies_redirects_and_hsts_by_default():
    result = settings_load(**production(SECURE_PROXY_SSL_HEADER=None, CSRF_TRUSTED_ORIGINS=None))
    chosen = json.loads(result.stdout)
    assert chosen["SECURE_SSL_REDIRECT"] and chosen["SESSION_COOKIE_SECURE"] and chosen["CSRF_COOKIE_SECURE"]
    assert chosen["SECURE_HSTS_SECONDS"] == 31_536_000
    assert chosen["SECURE_HSTS_INCLUDE_SUBDOMAINS"] and chosen["SECURE_HSTS_PRELOAD"]
    assert chosen["SECURE_PROXY_SSL_HEADER"] is None and chosen["CSRF_TRUSTED_ORIGINS"] == []


def test_each_https_setting_can_be_set_from_the_environment():
    result = settings_load(**production(SECURE_SSL_REDIRECT="false", SESSION_COOKIE_SECURE="false",
                                        CSRF_COOKIE_SECURE="false", SECURE_HSTS_SECONDS="60",
                                        SECURE_HSTS_INCLUDE_SUBDOMAINS="false", SECURE_HSTS_PRELOAD="false"))
    chosen = json.loads(result.stdout)
    assert not (chosen["SECURE_SSL_REDIRECT"] or chosen["SESSION_COOKIE_SECURE"] or chosen["CSRF_COOKIE_SECURE"])
    assert chosen["SECURE_HSTS_SECONDS"] == 60
    assert not (chosen["SECURE_HSTS_INCLUDE_SUBDOMAINS"] or chosen["SECURE_HSTS_PRELOAD"])
    assert chosen["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]  # a tuple, through JSON
    assert chosen["CSRF_TRUSTED_ORIGINS"] == ["https://sync.example.com"]


def test_development_keeps_plain_http_so_the_demo_runs_without_a_certificate():
    chosen = json.loads(settings_load(SYNC_ENVIRONMENT="development").stdout)
    assert chosen["SYNC_ENVIRONMENT"] == "development"
    assert not (chosen["SECURE_SSL_REDIRECT"] or chosen["SESSION_COOKIE_SECURE"] or chosen["SECURE_HSTS_SECONDS"])


def test_check_deploy_is_clean_with_the_documented_production_settings():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production())
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_production_variable_used_here_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration"):]
    documented = set(re.findall(r"^\| `([A-Z_]+)`", table, flags=re.MULTILINE))
    assert set(PRODUCTION_ENV) | (_SECURITY_VARIABLES - {"DEBUG"}) <= documented


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    logical, pending = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        logical.append(pending.strip())
        pending = ""
    return [(head.upper(), rest.strip()) for head, _, rest in (text.partition(" ") for text in logical)]


def test_the_docker_image_runs_the_app_as_a_user_that_is_not_root():
    instructions = _dockerfile_instructions()
    users = [(index, args) for index, (name, args) in enumerate(instructions) if name == "USER"]
    assert users, "the Dockerfile never leaves root"
    last_user = users[-1][1]  # the one the container starts as
    assert last_user.split(":", 1)[0] not in {"root", "0", ""}


def test_the_docker_image_holds_every_app_the_settings_install():
    from django.conf import settings

    copied = {args.split()[0] for name, args in _dockerfile_instructions() if name == "COPY"}
    local_apps = {app.split(".")[0] for app in settings.INSTALLED_APPS if (ROOT / app.split(".")[0]).is_dir()}
    assert local_apps <= copied
