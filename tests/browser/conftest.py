"""A real browser: Playwright driving Debian's chromium, headless, against the live app.

CI installs chromium (.ci/run) and sets SYNC_REQUIRE_SERVICES=1, so a missing browser
fails there; on a laptop without chromium these tests are skipped with that reason.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread; the Django ORM calls the
# tests make between clicks are plain synchronous code, so Django's guard is lifted here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("SYNC_CHROMIUM", "/usr/bin/chromium")
# Pictures go to var/ on every run; the README's copies are refreshed on purpose with
# SYNC_SCREENSHOTS_DIR=docs/screenshots bin/test tests/browser/test_screenshots.py
SCREENSHOTS = Path(os.environ.get("SYNC_SCREENSHOTS_DIR")
                   or Path(__file__).resolve().parents[2] / "var" / "test" / "screenshots")


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        if os.environ.get("SYNC_REQUIRE_SERVICES") == "1":
            pytest.fail(f"chromium not found at {CHROMIUM}: .ci/run installs it with apt-get")
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def make_user(username: str, role: str | None, password: str = "pass-for-tests"):
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username=username, password=password)
    if role:
        # get_or_create: a transactional test flushed the groups the migration made
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def log_in(page, username: str, password: str = "pass-for-tests") -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def screenshot(page, name: str, *, full_page: bool = True) -> None:
    """Keep a picture of a main page (the README shows them; see SCREENSHOTS);
    `full_page=False` keeps the first screenful of a long list."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The live server checks the password on every log in; the production hasher's
    # deliberate slowness would be most of each test's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def hub():
    """Both sandboxes on real sockets and a customers flow configured against them."""
    from tests.hub import Hub

    hub = Hub()
    yield hub
    hub.close()


class Workers:
    """Celery's stand-in: keeps what the pages queue and runs it when the test says, with
    the sandbox's fake clock, so what happens after a click is deterministic."""

    def __init__(self) -> None:
        self.queued: list[tuple[str, tuple]] = []

    def run(self, hub) -> None:
        from syncapp.models import Flow
        from syncapp.services import flow_push, flows_replan_all, records_retry

        while self.queued:
            name, args = self.queued.pop(0)
            if name == "push":
                flow_push(flow=Flow.objects.select_related("connection", "destination").get(pk=args[0]),
                          adapter=hub.destination())
            elif name == "replan":
                flows = Flow.objects.filter(pk__in=args[0]).select_related("connection", "destination")
                flows_replan_all(flows=flows)
                self.queued.extend(("push", (flow.pk,)) for flow in flows)
            else:
                records_retry(connection_id=args[0], flow_id=args[1], entity=args[2], record_keys=args[3])


@pytest.fixture
def workers(monkeypatch):
    """Tasks the pages enqueue are kept (not sent to a broker) until `workers.run(hub)`."""
    workers = Workers()
    for task, name in (("flow_push_task", "push"), ("flows_replan_task", "replan"), ("records_retry_task", "retry")):
        monkeypatch.setattr(f"syncapp.tasks.{task}.delay",
                            lambda *args, name=name, **kwargs: workers.queued.append((name, args)))
    return workers
