"""Fixtures of the web tests: a logged-in client per role, a flow with problems, and a record
sent again after an unanswered send."""
import pytest
from django.utils import timezone

from syncapp.models import OutboxItem, OutboxStatus
from syncapp.roles import FINANCE, INTEGRATION_ADMIN, MARKETING
from syncapp.services import connection_pull
from tests.syncapp.fakes import FakeSource, bp_record
from tests.web.factories import UserFactory

ROLE_USERS = {"marketing": MARKETING, "finance": FINANCE, "admin": INTEGRATION_ADMIN}


@pytest.fixture
def as_role(client, db):
    """`as_role("marketing")` logs the client in as a user of that role; "anonymous" logs out."""

    def login(name: str):
        client.logout()
        if name != "anonymous":
            client.force_login(UserFactory(username=name, role=ROLE_USERS[name]))
        return client

    return login


@pytest.fixture
def problems(flow):
    """A customers flow after a pull that found: no email (C001), a bad one (C002) and
    two partners sharing one (C003, C004, held in a conflict)."""
    connection_pull(connection=flow.connection, adapter=FakeSource([[
        bp_record("C001", email=""), bp_record("C002", email="jane@"),
        bp_record("C003", email="dup@example.com", updated="2026-11-01T10:00:00+00:00"),
        bp_record("C004", email="DUP@example.com", updated="2026-11-02T10:00:00+00:00"),
    ]]))
    return flow


@pytest.fixture
def erp_fixed(monkeypatch):
    """The ERP after someone corrected C001 and C002: a retry re-reads these."""
    fixed = FakeSource([[bp_record("C001", email="c001@example.com"), bp_record("C002", email="jane@example.com")]])
    monkeypatch.setattr("syncapp.services.source_adapter_for", lambda connection: fixed)
    return fixed


@pytest.fixture
def changed_back_while_out():
    """Put accepted record `key` of `flow` in the state a change undone while its send was out
    leaves when that send's worker dies and the sweep takes it back: pending again with the
    content the destination accepted before, claimed since. Nobody knows whether the change
    reached the destination, so planning must send it again."""
    def make(flow, key: str) -> None:
        assert OutboxItem.objects.filter(flow=flow, record_key=key, status=OutboxStatus.ACCEPTED).update(
            status=OutboxStatus.PENDING, claimed_at=timezone.now(), claim_token="") == 1

    return make
