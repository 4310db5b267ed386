"""Where people see ownership and consent: the mapping editor shows and enforces each
field's owner; a customer's consent page and its exception page show the consent history
with its source and time."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consent.models import ConsentEvent, ConsentState
from esp.models import FieldMapping
from tests.web.factories import SyncExceptionFactory
from tests.web.test_mapping_editor import dotdigital, post  # noqa: F401 - the editor's sandbox, autouse

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 20, 9, 15, tzinfo=UTC)


@pytest.fixture
def unsubscribed(flow):
    """C001 unsubscribed at the flow's destination, as the read-back records it."""
    common = {"connection": flow.connection, "card_code": "C001", "destination": flow.destination,
              "status": "unsubscribed", "reason": "Unsubscribed"}
    ConsentEvent.objects.create(**common, source="dotdigital suppressed contacts", occurred_at=AT)
    ConsentState.objects.create(**common, changed_at=AT)
    return flow


def test_the_editor_shows_each_fields_owner_and_refuses_conflicting_ones_with_a_reason(as_role, flow):
    client = as_role("admin")
    shown = client.get(f"/mappings/{flow.destination.pk}/customers/").content.decode()
    assert "<th>Owner</th>" in shown and 'id="owner-help"' in shown
    assert '<option value="destination" selected>Destination</option>' in shown  # MARKETINGCONSENT's row

    response = post(client, flow, "save", {"FULLNAME": {"owner": "destination"},
                                           "LOYALTYTIER": {"source_field": "U_MarketingConsent", "transform": "none"}})

    html = response.content.decode()
    assert "Nothing was saved" in html and "FULLNAME cannot be the destination&#x27;s" in html
    assert "U_MarketingConsent also fills MARKETINGCONSENT, owned by the Destination" in html
    assert FieldMapping.objects.get(target_field="FULLNAME").owner == "erp"


def test_a_customers_consent_page_shows_the_history_with_source_and_time(as_role, unsubscribed):
    html = as_role("marketing").get(f"/customers/{unsubscribed.connection.pk}/C001/consent/").content.decode()

    assert "Consent withdrawn at 1 destination" in html
    assert "dotdigital suppressed contacts" in html and "2026-11-20 09:15" in html and "Unsubscribed" in html


def test_the_consent_page_needs_a_login(as_role, unsubscribed):
    response = as_role("anonymous").get(f"/customers/{unsubscribed.connection.pk}/C001/consent/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_an_exception_page_of_the_customer_shows_its_consent_history(as_role, unsubscribed):
    exception = SyncExceptionFactory(flow=unsubscribed, record_key="C001")

    html = as_role("marketing").get(f"/exceptions/{exception.pk}/").content.decode()

    assert "<h2>Consent</h2>" in html and "dotdigital suppressed contacts" in html and "2026-11-20 09:15" in html
