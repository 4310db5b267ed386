"""A pull reads and screens its next page while it stores one (issue 12, part 1: the
screen's Python and SAP's round trip run in the time a page waits for the database), and
keeps every promise of a one-page-at-a-time pull: order, bad records as exceptions, what
was read before an outage stored, the source closed."""
from __future__ import annotations

import threading
import time

import pytest

from erp.models import BusinessPartner
from erp.record_checks import records_check
from erp.record_screen import raw_json
from erp.sap_b1.sandbox.app import SapB1Sandbox
from exceptions.models import SyncException
from syncapp.adapters import SourceBatch, SourceRecord
from syncapp.page_lookahead import pages_read_ahead
from syncapp.services import connection_pull
from tests.factories import ErpConnectionFactory
from tests.hub import Hub, partner


@pytest.fixture
def hub():
    hub = Hub()
    hub.connection.page_size = 2
    hub.connection.save()
    yield hub
    hub.close()


def _page_reads(hub) -> int:
    return sum(1 for method, path, _ in hub.sap.request_log if method == "GET" and path.endswith("/BusinessPartners"))


def _eventually(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.django_db
def test_the_next_page_is_read_from_sap_while_this_one_is_stored(hub):
    hub.sap.add_business_partners([partner(f"C{i}") for i in range(6)])
    reads_when_stored: list[int] = []

    def stored(_count: int) -> None:  # called once a page is stored, before the next is asked for
        if not reads_when_stored:
            assert _eventually(lambda: _page_reads(hub) >= 2), "page 2 was not read while page 1 was stored"
        reads_when_stored.append(_page_reads(hub))

    pulled = connection_pull(connection=hub.connection, progress=stored)

    assert pulled.status == "succeeded" and pulled.records_read == 6
    assert reads_when_stored[0] >= 2
    assert sorted(BusinessPartner.objects.values_list("card_code", flat=True)) == [f"C{i}" for i in range(6)]


@pytest.mark.django_db
def test_a_bad_record_on_a_page_read_ahead_is_its_own_exception_and_the_rest_is_stored(hub):
    hub.sap.add_business_partners([partner(f"C{i}") for i in range(6)])
    hub.sap.update_business_partner("C4", EmailAddress="a" * 255 + "@example.com")  # now last: on a page read ahead

    pulled = connection_pull(connection=hub.connection)

    assert pulled.status == "partial" and pulled.records_failed == 1
    assert sorted(BusinessPartner.objects.values_list("card_code", flat=True)) == ["C0", "C1", "C2", "C3", "C5"]
    exception = SyncException.objects.get(record_key="C4")
    assert exception.reason_code == "value_too_long"


@pytest.mark.django_db
def test_sap_failing_on_a_later_page_leaves_the_pages_read_before_it_stored(hub, monkeypatch):
    hub.sap.add_business_partners([partner(f"C{i}") for i in range(6)])
    answer = SapB1Sandbox.__call__

    def from_the_third_page_on_sap_is_broken(sandbox, environ, start_response):
        if environ["REQUEST_METHOD"] == "GET" and environ["PATH_INFO"].endswith("/BusinessPartners") \
                and _page_reads(hub) >= 2:
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [b'{"error": {"code": -1, "message": {"value": "broken"}}}']
        return answer(sandbox, environ, start_response)

    monkeypatch.setattr(SapB1Sandbox, "__call__", from_the_third_page_on_sap_is_broken)

    pulled = connection_pull(connection=hub.connection)

    assert pulled.status == "failed"
    assert sorted(BusinessPartner.objects.values_list("card_code", flat=True)) == ["C0", "C1", "C2", "C3"]


def _record(key: str) -> SourceRecord:
    return SourceRecord(entity="business_partners", key=key, version="v", raw={"CardCode": key},
                        data={"card_code": key, "card_name": f"Customer {key}", "card_type": "customer"})


def test_pages_come_in_order_each_screened_and_the_source_is_closed_when_the_pull_stops():
    closed = threading.Event()

    def pages():
        try:
            for number in range(3):
                yield SourceBatch(records=[_record(f"P{number}-{i}") for i in range(3)], cursor={"page": number})
        finally:
            closed.set()

    reader = pages_read_ahead(pages(), entity="business_partners")
    first = next(reader)
    assert first.screened and first.cursor == {"page": 0} and [r.key for r in first.records] == ["P0-0", "P0-1",
                                                                                                  "P0-2"]
    assert next(reader).cursor == {"page": 1}
    reader.close()  # the store of page 2 failed: the pull stops here
    assert closed.is_set()


def test_a_read_error_comes_after_the_page_read_before_it():
    def pages():
        yield SourceBatch(records=[_record("A")], cursor={"page": 0})
        raise ConnectionError("SAP went away")

    reader = pages_read_ahead(pages(), entity="business_partners")
    assert next(reader).cursor == {"page": 0}
    with pytest.raises(ConnectionError):
        next(reader)


def test_a_page_keeps_its_raw_texts_while_the_next_page_is_screened(monkeypatch):
    page_one = records_check(entity="business_partners", records=[_record("A")])
    records_check(entity="business_partners", records=[_record("B")])  # screened ahead, before page one is stored

    def encoded_again(_value):
        raise AssertionError("page one's raw payload was encoded a second time")

    monkeypatch.setattr("erp.record_screen.json_text", encoded_again)
    assert raw_json(page_one[0].raw) == '{"CardCode":"A"}'


@pytest.mark.django_db
def test_a_failed_pull_has_closed_its_source_before_the_failure_reaches_the_caller():
    """The caller logs the source out after the pull: no page may still be read ahead on that session."""
    closed = threading.Event()

    class Source:
        pages_read_ahead = True

        def read_changes(self, entity, cursor):
            try:
                for number in range(3):
                    yield SourceBatch(records=[_record(f"K{number}")], cursor={"page": number})
            finally:
                closed.set()

    def failing(_count: int) -> None:
        raise RuntimeError("what follows a stored page failed")

    with pytest.raises(RuntimeError) as failure:
        connection_pull(connection=ErpConnectionFactory(), adapter=Source(), progress=failing)
    assert failure.value.__traceback__ is not None  # the pull's frames are still held here...
    assert closed.is_set()  # ...and its source was closed all the same
