"""A contact edited at the Ometria sandbox is found by the daily sample, read back from
its profile (`GET /v2/profiles?email=`, a path that is unconfirmed): sent again when the
field differing is the ERP's, raised for marketing when it is Ometria's."""
from __future__ import annotations

import pytest

from exceptions.models import SyncException
from syncapp.drift.models import DriftFinding
from syncapp.models import OutboxItem, OutboxStatus
from tests.drift.support import run_sample
from tests.hub import partner
from tests.test_end_to_end_ometria import OmetriaHub

pytestmark = pytest.mark.django_db


@pytest.fixture
def hub(redis_url):
    hub = OmetriaHub()
    hub.sap.add_business_partners([partner(f"C{i:03d}", CardName=f"Customer Number{i}") for i in range(1, 4)])
    hub.pull()
    hub.push_ometria("customers")
    assert hub.contact("C001")["firstname"] == "Customer"
    yield hub
    hub.close()


def _sample(hub):
    return run_sample(hub.om_flows["customers"], hub.ometria())


def test_a_contact_renamed_at_ometria_is_found_by_the_sample_and_sent_again(hub):
    hub.om.edit_contact("C002", firstname="Someone")

    sample = _sample(hub)

    assert (sample.status, sample.checked, sample.drifted, sample.requeued, sample.raised) == ("done", 3, 1, 1, 0)
    finding = DriftFinding.objects.get()
    assert finding.record_key == "C002"
    assert finding.fields == [{"field": "name", "sent": "Customer Number2", "found": "Someone Number2",
                               "owner": "erp"}]
    assert hub.om.calls("GET", "/v2/profiles") == 3  # one read per record, on the Data API
    hub.push_ometria("customers")
    assert hub.contact("C002")["firstname"] == "Customer"
    assert OutboxItem.objects.get(flow=hub.om_flows["customers"], record_key="C002").status == OutboxStatus.ACCEPTED


def test_a_property_changed_at_ometria_is_sent_again(hub):
    hub.om.edit_contact("C001", properties={"loyalty_tier": "Bronze"})

    sample = _sample(hub)

    assert sample.requeued == 1
    assert DriftFinding.objects.get().fields[0]["field"] == "loyalty_tier"
    hub.push_ometria("customers")
    assert hub.contact("C001")["properties"]["loyalty_tier"] == "Gold"


def test_an_opt_out_at_ometria_is_raised_for_marketing_and_not_overwritten(hub):
    hub.om.edit_contact("C003", marketing_optin="EXPLICITLY_OPTEDOUT")

    sample = _sample(hub)

    assert (sample.drifted, sample.requeued, sample.raised) == (1, 0, 1)
    exception = SyncException.objects.get()
    assert (exception.reason_code, exception.owner_team, exception.flow) == (
        "drifted_at_destination", "marketing", hub.om_flows["customers"])
    assert ("marketing_optin: the hub sent 'EXPLICITLY_OPTEDIN', it now holds 'EXPLICITLY_OPTEDOUT'"
            in exception.message)
    assert OutboxItem.objects.get(flow=hub.om_flows["customers"], record_key="C003").status == OutboxStatus.ACCEPTED
    assert hub.contact("C003")["marketing_optin"] == "EXPLICITLY_OPTEDOUT"
