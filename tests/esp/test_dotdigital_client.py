"""DotdigitalClient: auth, region, rate limits and errors against the sandbox."""

from __future__ import annotations

import logging

import pytest

from esp.dotdigital.client import DotdigitalClient, base_url_for, seconds_until_reset
from syncapp.adapters import AuthenticationFailed, NoThrottle, PushItem, TransportError

from .dotdigital_support import PASSWORD, world


def test_a_wrong_password_is_an_authentication_failure():
    with world() as w:
        with pytest.raises(AuthenticationFailed) as caught:
            w.client(password="wrong").list_data_fields()
        assert caught.value.status == 401 and caught.value.permanent
        assert "wrong" not in caught.value.message


def test_the_wrong_region_is_refused_with_403_and_says_so():
    with world() as w:
        with pytest.raises(AuthenticationFailed) as caught:
            w.client(region="r2").account_info()
        assert caught.value.status == 403
        assert "region" in caught.value.message
        assert w.client(region="r1").account_info()["properties"]


def test_the_vendor_host_follows_the_region():
    assert base_url_for("r2") == "https://r2-api.dotdigital.com"
    assert base_url_for("r3", "http://127.0.0.1:9/{region}/") == "http://127.0.0.1:9/r3"


def test_a_429_storm_waits_for_the_reset_and_loses_nothing():
    with world(calls_per_minute=2, import_delay_seconds=1.0) as w:
        dest = w.destination()
        batch = [PushItem(f"K{n}", f"c{n}@example.com", {"FIRSTNAME": str(n)}) for n in range(6)]
        first = dest.push("customers", batch[:2])  # two PATCHes use up the minute
        rest = dest.push("customers", batch[2:])  # import and poll must wait
        assert [r.outcome for r in first + rest] == ["accepted"] * 6
        assert len(w.sandbox.contacts) == 6
        assert w.throttle.deferred and all(0 < s <= 60 for s in w.throttle.deferred)
        assert 429 not in [status for _, _, status in w.sandbox.call_log]  # paced by the headers instead
        assert dest.calls == w.throttle.acquired == len(w.sandbox.call_log)


def test_throttle_defer_gets_the_reset_value_in_seconds_or_epoch():
    for reset_header in ("seconds", "epoch"):
        with world(calls_per_minute=1, reset_header=reset_header) as w:
            w.clock.now = 1_699_999_990.0  # windows start on whole minutes: 50 s left
            client = w.client()
            client.list_data_fields()
            client.list_data_fields()  # waits out the minute (and a second); spends the next one's too
            assert w.throttle.deferred == [51.0, 60.0]
            assert w.clock.sleeps == [51.0]


def test_the_client_gives_up_after_bounded_waits_with_a_transient_error():
    with world(calls_per_minute=0) as w:
        with pytest.raises(TransportError) as caught:
            w.client(max_rate_limit_waits=3).list_data_fields()
        assert caught.value.transient and caught.value.status == 429
        assert caught.value.retry_after and len(w.throttle.deferred) == 3


def test_too_many_active_imports_waits_without_holding_back_other_calls():
    with world(max_active_imports=1, import_delay_seconds=5.0) as w:
        client = w.client()
        entry = {"matchIdentifier": "email", "identifiers": {"email": "a@example.com"}}
        client.import_contacts([entry])
        assert client.import_contacts([entry])  # waits until the first import is done
        assert w.throttle.deferred == []
        assert [s for _, _, s in w.sandbox.call_log] == [202, 429, 202]


def test_a_body_that_breaks_the_contract_is_refused_permanently():
    with world() as w:
        with pytest.raises(TransportError) as caught:
            w.client().request(
                "PUT", "/contacts/v3/import", json_body={"contacts": "everyone"}, expect=(202,)
            )
        assert caught.value.status == 400 and caught.value.permanent
        assert caught.value.reason_code == "contacts:badJson"


def test_v2_errors_carry_their_error_code():
    with world() as w:
        client = w.client()
        with pytest.raises(TransportError) as caught:
            client.create_data_field("FIRSTNAME", "String")
        assert caught.value.reason_code == "ERROR_NON_UNIQUE_DATAFIELD"
        assert caught.value.permanent and caught.value.status == 400


def test_an_unknown_contact_reads_as_none():
    with world() as w:
        assert w.client().get_contact("nobody@example.com") is None


def test_an_unreachable_host_is_transient():
    client = DotdigitalClient("http://127.0.0.1:9", "u", "p", throttle=NoThrottle(), timeout=2)
    with pytest.raises(TransportError) as caught:
        client.list_data_fields()
    assert caught.value.transient and caught.value.reason_code == "connection_error"
    assert client.calls == 1


def test_rate_limit_reset_reads_seconds_and_epochs():
    assert seconds_until_reset("30", now=1_700_000_000) == 30
    assert seconds_until_reset("1700000045", now=1_700_000_000) == 45
    assert seconds_until_reset("", now=0) is None


def test_logs_and_errors_hide_the_password_and_whole_emails(caplog):
    caplog.set_level(logging.DEBUG)
    with world() as w:
        client = w.client()
        client.upsert_contact("jane.doe@example.com", {"FIRSTNAME": "Jane"})
        with pytest.raises(TransportError) as caught:
            client.upsert_contact("jane.doe@example.com", {"NOPE": 1})
    text = caplog.text + caught.value.message
    assert "j***@example.com" in caplog.text
    assert "jane.doe@example.com" not in text and PASSWORD not in text
