"""ServiceLayerClient against the sandbox over a real socket."""
from __future__ import annotations

import json
import logging
import socket

import pytest

from erp.sap_b1.client import parse_error
from syncapp.adapters import AuthenticationFailed, TransportError
from syncapp.sandbox_server import serve_in_thread
from tests.erp.conftest import make_client, partner


def _fill(sandbox, count: int) -> None:
    sandbox.add_business_partners(partner(f"C{n:04d}") for n in range(count))


def _collection_requests(sandbox) -> list:
    return [entry for entry in sandbox.request_log if entry[1].endswith("/BusinessPartners")]


def test_one_login_serves_every_page_through_next_link(sandbox, client):
    _fill(sandbox, 45)

    pages = list(client.get_pages("BusinessPartners", {"$select": "CardCode"}))

    assert [len(page.rows) for page in pages] == [10, 10, 10, 10, 5]
    assert sandbox.login_count == 1
    assert [q.get("$skip") for _, _, q in _collection_requests(sandbox)] == [
        None, "10", "20", "30", "40"]
    codes = [row["CardCode"] for page in pages for row in page.rows]
    assert codes == [f"C{n:04d}" for n in range(45)]


def test_page_size_is_asked_with_prefer_and_echoed(sandbox, client):
    _fill(sandbox, 3)
    response = client.request("GET", "BusinessPartners",
                              headers={"Prefer": "odata.maxpagesize=2"})
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=2"
    assert len(response.json()["value"]) == 2


def test_next_link_given_from_the_host_root_is_followed_too(sandbox, client):
    sandbox.next_link_style = "absolute_path"
    _fill(sandbox, 25)
    pages = list(client.get_pages("BusinessPartners"))
    assert pages[0].next_link.startswith("/b1s/v1/BusinessPartners?")
    assert sum(len(page.rows) for page in pages) == 25


def test_expired_session_is_renewed_once_and_the_request_repeated(sandbox, client):
    _fill(sandbox, 1)
    client.get("BusinessPartners")
    sandbox.expire_sessions()

    body = client.get("BusinessPartners")

    assert [row["CardCode"] for row in body["value"]] == ["C0000"]
    assert sandbox.login_count == 2


def test_idle_session_times_out_after_thirty_minutes(sandbox, client, clock):
    client.get("BusinessPartners")
    clock.advance(minutes=29)
    client.get("BusinessPartners")
    assert sandbox.login_count == 1
    clock.advance(minutes=31)
    client.get("BusinessPartners")
    assert sandbox.login_count == 2


def test_refused_login_is_authentication_failed(base_url):
    client = make_client(base_url, "wrong-password")
    with pytest.raises(AuthenticationFailed) as caught:
        client.get("BusinessPartners")
    assert caught.value.permanent
    assert "Login failed" in caught.value.message
    assert "wrong-password" not in str(caught.value)


def test_v1_error_envelope_is_a_permanent_transport_error(client):
    with pytest.raises(TransportError) as caught:
        client.get("BusinessPartners", {"$filter": "CardCode wibble 'x'"})
    error = caught.value
    assert error.permanent and error.status == 400
    assert error.reason_code == "sap_b1:-1000"
    assert "expected a comparison" in error.message


def test_v2_error_envelope_with_string_code_and_plain_message(password):
    def app(environ, start_response):
        if environ["PATH_INFO"].endswith("/Login"):
            start_response("200 OK", [("Set-Cookie", "B1SESSION=abc; HttpOnly"),
                                      ("Content-Type", "application/json")])
            return [b'{"SessionId": "abc"}']
        body = {"error": {"code": "-2039", "message": "Another user modified the record"}}
        start_response("412 Precondition Failed", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    running = serve_in_thread(app)
    try:
        client = make_client(f"{running.url}/b1s/v2", password)
        with pytest.raises(TransportError) as caught:
            client.patch("BusinessPartners('C1')", {"CardName": "x"})
    finally:
        running.stop()
    assert caught.value.permanent
    assert caught.value.reason_code == "sap_b1:-2039"
    assert caught.value.message.endswith("Another user modified the record")


def test_parse_error_reads_both_envelopes_and_ignores_other_bodies():
    v1 = {"error": {"code": -10, "message": {"lang": "en-us", "value": "already assigned"}}}
    assert parse_error(v1) == ("-10", "already assigned")
    assert parse_error({"error": {"code": "301", "message": "Invalid session"}}) == (
        "301", "Invalid session")
    assert parse_error({"value": []}) == ("", "")
    assert parse_error(None) == ("", "")


def test_server_errors_are_retried_then_succeed(sandbox, client):
    _fill(sandbox, 1)
    client.get("BusinessPartners")
    sandbox.fail_next(2, status=503)

    body = client.get("BusinessPartners")

    assert len(body["value"]) == 1
    assert len(_collection_requests(sandbox)) == 4


def test_retries_are_bounded_and_the_error_stays_transient(sandbox, client):
    client.get("BusinessPartners")
    sandbox.fail_next(10, status=500)
    with pytest.raises(TransportError) as caught:
        client.get("BusinessPartners")
    assert caught.value.transient and caught.value.status == 500
    assert len(_collection_requests(sandbox)) == 1 + 4  # first call, then 1 try + 3 retries


def test_too_many_requests_is_transient_and_honours_retry_after(sandbox, client):
    client.get("BusinessPartners")
    sandbox.fail_next(1, status=429, retry_after=0)
    client.get("BusinessPartners")
    sandbox.fail_next(5, status=429, retry_after=0)
    with pytest.raises(TransportError) as caught:
        make_client(client.base_url, client._password, max_retries=0).get("BusinessPartners")
    assert caught.value.transient and caught.value.retry_after == 0


def test_connection_refused_is_a_transient_transport_error(password):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}/b1s/v1", password, max_retries=1)
    with pytest.raises(TransportError) as caught:
        client.get("BusinessPartners")
    assert caught.value.transient
    assert caught.value.reason_code == "connection_error"


def test_neither_password_nor_session_cookie_reaches_the_log(sandbox, client, password, caplog):
    caplog.set_level(logging.DEBUG)
    client.get("BusinessPartners")
    sandbox.expire_sessions()
    sandbox.fail_next(1, status=502)
    client.get("BusinessPartners")
    session_ids = list(sandbox.sessions)
    assert password not in caplog.text
    assert all(session_id not in caplog.text for session_id in session_ids)
    assert password not in repr(client)
