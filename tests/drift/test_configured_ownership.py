"""Drift under configured ownership (issue 15), end to end through the sandboxes: an
ERP-owned field edited at dotdigital is put back; a field configured as dotdigital's is
left alone, by the check and by the next change of the ERP record, whatever its name says."""
from __future__ import annotations

import pytest

from esp.models import FieldMapping
from syncapp.services import flow_push
from tests.drift.support import run_sample
from tests.hub import Hub, partner

pytestmark = pytest.mark.django_db


@pytest.fixture
def hub():
    hub = Hub()
    # Marketers grade loyalty in dotdigital now: the ERP's tier is only a starting value.
    FieldMapping.objects.filter(destination=hub.account, target_field="LOYALTYTIER").update(
        owner="destination", transform="none")
    hub.sap.add_business_partners([partner(f"C{i:03d}", CardName=f"Customer {i}") for i in (1, 2)])
    hub.sync()
    yield hub
    hub.close()


def _data_fields(hub, code: str) -> dict:
    return hub.dd.contacts[f"{code.lower()}@example.com"]["dataFields"]


def test_an_erp_owned_field_edited_at_dotdigital_is_put_back_and_a_destination_owned_one_left_alone(hub):
    hub.dd.edit_contact("c001@example.com", {"FULLNAME": "Someone Else"})
    hub.dd.edit_contact("c002@example.com", {"LOYALTYTIER": "Platinum"})

    sample = run_sample(hub.flow, hub.destination())
    flow_push(flow=hub.flow, adapter=hub.destination())

    assert (sample.checked, sample.requeued, sample.raised) == (2, 1, 1)
    assert _data_fields(hub, "C001")["FULLNAME"] == "Customer 1"
    assert _data_fields(hub, "C002")["LOYALTYTIER"] == "Platinum"
    hub.patch_in_sap("C002", CardName="Renamed", U_LoyaltyTier="Bronze")
    hub.sync()
    assert (_data_fields(hub, "C002")["FULLNAME"], _data_fields(hub, "C002")["LOYALTYTIER"]) == (
        "Renamed", "Platinum")
