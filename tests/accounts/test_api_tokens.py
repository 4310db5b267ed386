"""API tokens: stored as a hash, shown once, named, expiring, revocable; bad ones throttled."""
import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.tokens import api_token_issue, token_digest
from syncapp.roles import FINANCE, INTEGRATION_ADMIN, MARKETING, WEB_SHOP
from tests.web.factories import UserFactory

pytestmark = pytest.mark.django_db

API = "/api/runs/"


def _api(key: str | None = None, keyword: str = "Token", address: str = "127.0.0.1") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    if key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"{keyword} {key}")
    return client


def _columns_of(token: ApiToken) -> str:
    return " ".join(str(value) for value in ApiToken.objects.filter(pk=token.pk).values().get().values())


def test_only_the_hash_of_an_issued_key_is_stored():
    token, key = api_token_issue(user=UserFactory(role=FINANCE), name="report script")
    assert key not in _columns_of(token)
    assert token.digest == token_digest(key) and token.prefix == key[:8]
    assert str(token) == f"report script ({key[:8]}…)" and key not in str(token)
    assert timezone.now() + timedelta(days=89) < token.expires_at <= timezone.now() + timedelta(days=90)


@pytest.mark.parametrize("keyword", ["Token", "Bearer"])
def test_a_token_opens_the_api_with_either_keyword_and_notes_its_use(keyword):
    token, key = api_token_issue(user=UserFactory(role=FINANCE), name="report script")
    assert _api(key, keyword).get(API).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.parametrize("state", ["expired", "revoked", "inactive user", "unknown"])
def test_an_expired_revoked_or_unknown_token_is_refused(state, fresh):
    user = UserFactory(role=FINANCE)
    token, key = api_token_issue(user=user, name="report script")
    if state == "expired":
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "revoked":
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    elif state == "inactive user":
        get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    else:
        key = key[:-4] + "abcd"
    response = _api(key, address=fresh.address()).get(API)
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"


def test_twenty_one_bad_tokens_from_one_address_are_answered_429_with_retry_after(fresh, clock):
    address = fresh.address()
    _, good_key = api_token_issue(user=UserFactory(role=FINANCE), name="report script")
    answers = [_api(f"guess-{n}", address=address).get(API).status_code for n in range(21)]
    assert answers[:20] == [401] * 20 and answers[20] == 429
    locked = _api(good_key, address=address).get(API)  # even a good key: no oracle for a guesser
    assert locked.status_code == 429 and 0 < int(locked["Retry-After"]) <= 60
    assert _api(good_key, address=fresh.address()).get(API).status_code == 200  # elsewhere: unaffected
    clock.advance(61)
    assert _api(good_key, address=address).get(API).status_code == 200


def test_the_authtoken_migration_copies_old_keys_hashed_and_deletes_them(fresh):
    user = UserFactory(role=WEB_SHOP)
    old_key = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE authtoken_token (\"key\" varchar(40) PRIMARY KEY, created timestamp NOT NULL,"
                       " user_id integer NOT NULL)")
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, %s, %s)", [old_key, "2024-01-01 00:00:00", user.pk])
    migration = importlib.import_module("accounts.migrations.0004_copy_authtoken_keys")

    class Editor:  # what the migration uses of a schema editor
        connection = connection
        quote_name = staticmethod(connection.ops.quote_name)

    migration.authtoken_keys_copy(apps, Editor())
    token = ApiToken.objects.get(user=user)
    assert token.digest == token_digest(old_key) and token.prefix == old_key[:8]
    assert token.expires_at > timezone.now() + timedelta(days=89)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0
    assert _api(old_key, address=fresh.address()).post("/api/provisional-orders/", {}, format="json").status_code == 400


# -- the admin: superusers only, the key once ----------------------------------------

@pytest.fixture
def root(client, db):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    return root


def test_a_superuser_issues_a_token_in_the_admin_and_sees_the_key_only_then(client, root):
    shop = UserFactory(username="webshop", role=WEB_SHOP)
    issued = client.post("/admin/accounts/apitoken/add/", {"user": shop.pk, "name": "shop production",
                                                           "expires_at_0": "2099-01-01", "expires_at_1": "00:00:00"})
    assert issued.status_code == 200
    token = ApiToken.objects.get(user=shop)
    page = issued.content.decode()
    key = page.split('user-select:all">')[1].split("<")[0]
    assert token.digest == token_digest(key) and token.digest not in page
    assert _api(key).post("/api/provisional-orders/", {}, format="json").status_code == 400  # in, then refused as empty
    later = "".join(client.get(url).content.decode() for url in (
        "/admin/accounts/apitoken/", f"/admin/accounts/apitoken/{token.pk}/change/", "/admin/",
        f"/admin/accounts/apitoken/{token.pk}/history/"))
    assert key not in later and token.digest not in later and f"{token.prefix}…" in later
    assert {entry.object_repr for entry in LogEntry.objects.all()} == {str(token)}


def test_a_superuser_revokes_any_token_in_the_admin(client, root):
    token, key = api_token_issue(user=UserFactory(role=FINANCE), name="report script")
    client.post("/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None and _api(key).get(API).status_code == 401


def test_an_integration_admin_cannot_see_or_issue_tokens_in_the_admin(client, db):
    client.force_login(UserFactory(username="ia", role=INTEGRATION_ADMIN))
    victim = UserFactory(role=FINANCE)
    api_token_issue(user=victim, name="report script")
    assert client.get("/admin/accounts/apitoken/").status_code == 403
    response = client.post("/admin/accounts/apitoken/add/", {"user": victim.pk, "name": "mine now",
                                                             "expires_at_0": "2099-01-01", "expires_at_1": "00:00:00"})
    assert response.status_code == 403 and ApiToken.objects.count() == 1


# -- each user's own tokens at /account/tokens/ --------------------------------------

def test_a_user_issues_lists_and_revokes_their_own_tokens(client, db):
    user = UserFactory(role=MARKETING)
    client.force_login(user)
    issued = client.post("/account/tokens/", {"name": "campaign script", "days": 30})
    assert issued.status_code == 200 and "no-store" in issued["Cache-Control"]
    token = ApiToken.objects.get(user=user)
    key = issued.content.decode().split('class="issued-key">')[1].split("<")[0]
    assert token.digest == token_digest(key) and token.name == "campaign script"
    assert timezone.now() + timedelta(days=29) < token.expires_at <= timezone.now() + timedelta(days=30)
    listing = client.get("/account/tokens/").content.decode()
    assert "campaign script" in listing and f"{token.prefix}…" in listing and key not in listing
    assert _api(key).get("/api/exceptions/").status_code == 200
    assert client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 302
    assert _api(key).get("/api/exceptions/").status_code == 401


def test_a_user_cannot_revoke_or_see_someone_elses_token(client, db):
    other, _ = api_token_issue(user=UserFactory(role=FINANCE), name="finance secret name")
    client.force_login(UserFactory(role=MARKETING))
    assert "finance secret name" not in client.get("/account/tokens/").content.decode()
    assert client.post(f"/account/tokens/{other.pk}/revoke/").status_code == 404
    other.refresh_from_db()
    assert other.revoked_at is None


def test_the_token_page_needs_a_login(client, db):
    response = client.get("/account/tokens/")
    assert response.status_code == 302 and response.url.startswith("/login/")
