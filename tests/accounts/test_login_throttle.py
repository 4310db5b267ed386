"""Failed logins are throttled by account and by address, on the site and in the admin."""
import logging

import pytest
from django.contrib.auth import get_user_model

from syncapp.roles import INTEGRATION_ADMIN, MARKETING
from tests.web.factories import UserFactory

pytestmark = pytest.mark.django_db

THROTTLED = "Too many failed logins"


def _login(client, username, password, address, url="/login/"):
    return client.post(url, {"username": username, "password": password, "next": "/"}, REMOTE_ADDR=address)


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_six_wrong_passwords_lock_the_account_even_against_the_right_one(client, fresh):
    user = UserFactory(username=fresh.name(), role=MARKETING)
    address = fresh.address()
    for _ in range(6):
        assert _login(client, user.username, "wrong", address).status_code in (200, 429)
        assert not _logged_in(client)
    response = _login(client, user.username, "pw", address)
    assert response.status_code == 429
    assert THROTTLED in response.content.decode()
    assert not _logged_in(client)


def test_the_lock_holds_from_another_address_too(client, fresh):
    user = UserFactory(username=fresh.name(), role=MARKETING)
    for _ in range(5):
        _login(client, user.username, "wrong", fresh.address())
    response = _login(client, user.username, "pw", fresh.address())
    assert response.status_code == 429 and not _logged_in(client)


def test_another_account_from_another_address_still_logs_in(client, fresh):
    victim = UserFactory(username=fresh.name(), role=MARKETING)
    colleague = UserFactory(username=fresh.name(), role=MARKETING)
    for _ in range(6):
        _login(client, victim.username, "wrong", fresh.address())
    response = _login(client, colleague.username, "pw", fresh.address())
    assert response.status_code == 302 and _logged_in(client)


def test_after_the_lockout_the_right_password_works_again(client, fresh, clock):
    user = UserFactory(username=fresh.name(), role=MARKETING)
    address = fresh.address()
    for _ in range(6):
        _login(client, user.username, "wrong", address)
    clock.advance(14 * 60)
    assert _login(client, user.username, "pw", address).status_code == 429
    clock.advance(2 * 60)
    response = _login(client, user.username, "pw", address)
    assert response.status_code == 302 and _logged_in(client)


def test_twenty_failures_from_one_address_lock_that_address_for_every_account(client, fresh, clock):
    address = fresh.address()
    for _ in range(20):
        _login(client, fresh.name("nobody"), "wrong", address)
    user = UserFactory(username=fresh.name(), role=MARKETING)
    assert _login(client, user.username, "pw", address).status_code == 429
    response = _login(client, user.username, "pw", fresh.address())
    assert response.status_code == 302 and _logged_in(client)


def test_the_admin_login_is_throttled_the_same_way(client, fresh):
    admin = UserFactory(username=fresh.name(), role=INTEGRATION_ADMIN)
    address = fresh.address()
    for _ in range(6):
        _login(client, admin.username, "wrong", address, url="/admin/login/")
    response = _login(client, admin.username, "pw", address, url="/admin/login/")
    assert response.status_code == 429 and THROTTLED in response.content.decode()
    assert not _logged_in(client)
    # The site login shares the count: it is the same account.
    assert _login(client, admin.username, "pw", fresh.address()).status_code == 429


def test_a_success_before_the_limit_starts_the_account_count_again(client, fresh):
    user = UserFactory(username=fresh.name(), role=MARKETING)
    address = fresh.address()
    for _ in range(4):
        _login(client, user.username, "wrong", address)
    assert _login(client, user.username, "pw", address).status_code == 302
    client.logout()
    for _ in range(4):
        _login(client, user.username, "wrong", address)
    assert _login(client, user.username, "pw", address).status_code == 302


def test_a_failed_login_is_logged_without_the_password_or_the_whole_email(client, fresh, caplog):
    username = f"{fresh.name('jane')}@example.com"
    get_user_model().objects.create_user(username, password="right-one")
    address = fresh.address()
    with caplog.at_level(logging.INFO, logger="accounts.security"):
        _login(client, username, "s3cret-guess", address)
    lines = [record.getMessage() for record in caplog.records if record.name == "accounts.security"]
    assert lines and address in lines[0]
    assert "s3cret-guess" not in "\n".join(lines) and username not in "\n".join(lines)
    assert f"{username[0]}***@example.com" in lines[0]


def test_with_the_throttle_store_down_people_still_log_in_and_the_log_says_so(client, fresh, monkeypatch, caplog):
    from redis.exceptions import ConnectionError as RedisConnectionError

    def down(*args, **kwargs):
        raise RedisConnectionError("connection refused")

    for method in ("get", "add", "incr", "set", "delete"):
        monkeypatch.setattr(f"accounts.throttle.cache.{method}", down)
    user = UserFactory(username=fresh.name(), role=MARKETING)
    address = fresh.address()
    assert _login(client, user.username, "wrong", address).status_code == 200
    with caplog.at_level(logging.ERROR, logger="accounts.security"):
        response = _login(client, user.username, "pw", address)
    assert response.status_code == 302 and _logged_in(client)
    assert any("Throttle store unreachable" in record.getMessage() for record in caplog.records)
