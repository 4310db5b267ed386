"""The ERP may always withdraw consent and grant it only with a contact's first push, end to
end through both sandboxes: a customer who tells the shop "stop emailing me" is unsubscribed
at dotdigital and opted out at Ometria, and the ERP never subscribes them again."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consent.models import ConsentEvent
from syncapp.services import flow_push
from tests.consent.hubs import pull_and_push_ometria, sent_to_dotdigital

pytestmark = pytest.mark.django_db

EMAIL = "c001@example.com"


def _sync_both(hub) -> None:
    """The schedule: pull, then push to Ometria (forcing the ERP's consent) and to dotdigital."""
    pull_and_push_ometria(hub)
    flow_push(flow=hub.flow, adapter=hub.destination())


def test_an_erp_opt_out_reaches_both_destinations_and_a_later_opt_in_subscribes_nobody(om_hub):
    hub = om_hub
    flow_push(flow=hub.flow, adapter=hub.destination())
    assert hub.dd.contacts[EMAIL]["status"] == "subscribed"  # the till's opt-in started both contacts
    assert hub.contact("C001")["marketing_optin"] == "EXPLICITLY_OPTEDIN" and hub.om.is_forced_optin("C001")

    hub.patch_in_sap("C001", U_MarketingConsent="N")  # the customer asks the shop to stop emailing
    _sync_both(hub)

    contact = hub.dd.contacts[EMAIL]
    assert contact["status"] == contact["channelProperties"]["email"]["status"] == "unsubscribed"
    listed = hub.destination().consent_changes_since(datetime(2000, 1, 1, tzinfo=UTC))  # suppressed-since
    assert [change.status for change in listed] == ["unsubscribed"]
    assert hub.contact("C001")["marketing_optin"] == "EXPLICITLY_OPTEDOUT"  # the forced opt-in gave way
    history = ConsentEvent.objects.filter(card_code="C001").order_by("destination__name")
    assert [(e.destination.name, e.status, e.source) for e in history] == [
        ("dd", "unsubscribed", "ERP"), ("om", "unsubscribed", "ERP")]

    hub.patch_in_sap("C001", CardName="Jane Smith", U_MarketingConsent="Y")
    _sync_both(hub)

    contact = hub.dd.contacts[EMAIL]
    assert contact["dataFields"]["FULLNAME"] == "Jane Smith"  # the ERP's other changes still go
    assert contact["status"] == "unsubscribed" and hub.dd.resubscribed == []
    assert "MARKETINGCONSENT" not in sent_to_dotdigital(hub, EMAIL)[-1]["dataFields"]
    assert hub.contact("C001")["lastname"] == "Smith"
    assert hub.contact("C001")["marketing_optin"] == "EXPLICITLY_OPTEDOUT" and hub.om.resubscribed == []
    assert ConsentEvent.objects.count() == 2
