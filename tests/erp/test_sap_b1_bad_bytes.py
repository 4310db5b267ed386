"""Bytes from SAP that are not valid UTF-8, and pages that are not JSON, over a real socket."""
from __future__ import annotations

import pytest

from erp.models import BusinessPartner
from exceptions.models import SyncException
from syncapp.models import SourceCursor
from syncapp.services import connection_pull
from tests.hub import Hub, partner

pytestmark = pytest.mark.django_db


@pytest.fixture
def hub():
    hub = Hub()
    yield hub
    hub.close()


def test_invalid_utf8_in_one_partner_makes_only_that_partner_an_exception(hub):
    hub.sap.add_business_partners([partner("C1", CardName="Jose Smith"), partner("C2")])
    hub.sap.swap_bytes_next(b"Jose Smith", b"Jos\xe9 Smith")  # Latin-1 where UTF-8 belongs
    pulled = connection_pull(connection=hub.connection)
    assert pulled.status != "failed"
    assert list(BusinessPartner.objects.values_list("card_code", flat=True)) == ["C2"]
    exception = SyncException.objects.get(record_key="C1")
    assert exception.reason_code == "invalid_characters" and "not valid text" in exception.message
    assert exception.source_payload["CardName"] == "Jos\ufffd Smith"  # never guessed, shown as lost


def test_a_page_that_is_not_json_stops_the_pull_there_naming_the_page_and_skips_nothing(hub):
    hub.connection.page_size = 2
    hub.connection.save()
    hub.sap.add_business_partners([partner(f"C{i}") for i in range(5)])
    connection_pull(connection=hub.connection)  # the first read, so the cursor has a value
    hub.sap_clock.advance(minutes=10)
    for code in ("C0", "C1", "C2", "C3"):
        hub.sap.update_business_partner(code, CardName=f"New {code}")
    cursor_before = SourceCursor.objects.get(entity="business_partners").value
    hub.sap.swap_bytes_next(b'"value"', b'"val')
    pulled = connection_pull(connection=hub.connection)
    assert pulled.status == "failed"
    assert "BusinessPartners" in pulled.error and "cannot read" in pulled.error
    assert SourceCursor.objects.get(entity="business_partners").value == cursor_before
    assert not BusinessPartner.objects.filter(card_name__startswith="New").exists()  # nothing past it stored
    again = connection_pull(connection=hub.connection)  # SAP answers whole again: every change arrives
    assert again.status == "succeeded"
    assert BusinessPartner.objects.filter(card_name__startswith="New").count() == 4
