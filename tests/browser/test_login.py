"""Anonymous visitors see the login page and nothing else."""
import pytest

from tests.browser.conftest import log_in, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_anonymous_visitor_is_sent_to_the_login_page(page):
    for path in ("/", "/health/", "/exceptions/", "/mappings/", "/admin/"):
        page.goto(path)
        assert "/login" in page.url, path
    assert page.get_by_role("button", name="Log in").is_visible()


def test_a_wrong_password_is_refused_with_a_message(page):
    make_user("marketing", "Marketing")
    log_in(page, "marketing", "not-the-password")
    assert "/login/" in page.url
    assert page.get_by_text("Please enter a correct username and password").is_visible()


def test_a_user_logs_in_and_out(page):
    make_user("marketing", "Marketing")
    log_in(page, "marketing")
    assert "/login/" not in page.url
    assert page.get_by_text("marketing · Marketing").is_visible()
    page.get_by_role("button", name="Log out").click()
    page.goto("/health/")
    assert "/login" in page.url
