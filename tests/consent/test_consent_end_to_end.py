"""Consent is never overridden, end to end through the sandboxes: a contact unsubscribes at
dotdigital or Ometria, the scheduled read-back records it against the Business Partner with
its source and time, and the next change of its ERP record does not subscribe it again."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consent.models import ConsentEvent, ConsentReadBack, ConsentState
from consent.services import consent_read_back
from tests.consent.hubs import pull_and_push_ometria, sent_to_dotdigital

pytestmark = pytest.mark.django_db


def _read_back(destination, adapter, capture, *, at: float | None = None):
    """The scheduled read-back, at the sandbox's own time."""
    now = datetime.fromtimestamp(at, UTC) if at is not None else None
    with capture(execute=True):  # the re-plan of the partners it found runs after commit
        return consent_read_back(destination=destination, adapter=adapter, now=now)


def test_a_contact_unsubscribed_at_dotdigital_stays_unsubscribed_after_its_erp_record_changes(
        dd_hub, django_capture_on_commit_callbacks):
    hub = dd_hub
    hub.dd_clock.sleep(60)
    hub.dd.unsubscribe("c001@example.com")

    read = _read_back(hub.account, hub.destination(), django_capture_on_commit_callbacks, at=hub.dd_clock.now)

    assert (read.changes, read.unknown, read.last_error) == (1, 0, "")
    state = ConsentState.objects.get(destination=hub.account)
    assert (state.card_code, state.status, state.reason) == ("C001", "unsubscribed", "Unsubscribed")
    event = ConsentEvent.objects.get(destination=hub.account)
    assert (event.source, event.occurred_at) == ("dotdigital suppressed contacts", state.changed_at)
    hub.patch_in_sap("C001", CardName="Jane Smith", U_MarketingConsent="Y")
    hub.sync()

    contact = hub.dd.contacts["c001@example.com"]
    assert contact["dataFields"]["FULLNAME"] == "Jane Smith"  # the ERP's change went
    assert contact["status"] == "unsubscribed" and hub.dd.resubscribed == []
    first, *_, last = sent_to_dotdigital(hub, "c001@example.com")
    assert first["dataFields"]["MARKETINGCONSENT"] is True  # the till's opt-in started the contact
    assert "MARKETINGCONSENT" not in last["dataFields"] and "channelProperties" not in last


def test_a_contact_unsubscribed_at_ometria_stays_unsubscribed_after_its_erp_record_changes(
        om_hub, django_capture_on_commit_callbacks):
    hub = om_hub
    hub.om.unsubscribe("C001", kind="link_unsubscribe")

    _read_back(hub.om_account, hub.ometria(), django_capture_on_commit_callbacks)

    state = ConsentState.objects.get(destination=hub.om_account)
    assert (state.card_code, state.status, state.reason) == ("C001", "unsubscribed", "link unsubscribe")
    assert ConsentEvent.objects.get(destination=hub.om_account).source == "Ometria unsubscribes"
    hub.patch_in_sap("C001", CardName="Jane Smith", U_MarketingConsent="Y")
    pull_and_push_ometria(hub)

    contact = hub.contact("C001")
    assert (contact["firstname"], contact["lastname"]) == ("Jane", "Smith")
    assert contact["marketing_optin"] == "EXPLICITLY_OPTEDOUT" and hub.om.resubscribed == []
    assert not hub.om.is_forced_optin("C001")


def test_reading_back_again_adds_nothing_and_starts_where_the_last_read_ended(
        dd_hub, django_capture_on_commit_callbacks):
    hub = dd_hub
    hub.dd.unsubscribe("c001@example.com")
    first = _read_back(hub.account, hub.destination(), django_capture_on_commit_callbacks, at=hub.dd_clock.now)
    until = first.read_until
    hub.dd_clock.sleep(600)  # within the overlap: the same change is listed again

    again = _read_back(hub.account, hub.destination(), django_capture_on_commit_callbacks, at=hub.dd_clock.now)

    assert ConsentEvent.objects.count() == 1 and ConsentState.objects.count() == 1
    assert again.read_until > until and ConsentReadBack.objects.count() == 1
