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
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


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
        user.groups.add(Group.objects.get_or_create(name=role)[0])  # a transactional test flushed the migration's groups
    return user


def log_in(page, username: str, password: str = "pass-for-tests") -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def screenshot(page, name: str) -> None:
    """Keep a picture of a main page for the README (refreshed on every run)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
