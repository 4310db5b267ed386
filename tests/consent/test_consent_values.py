"""What a consent field says, and how each destination is told that the ERP withdrew it."""
from __future__ import annotations

import pytest

from esp.consent_values import GRANT, WITHDRAW, consent_intent, is_consent_field
from esp.dotdigital.payloads import contact_entry, upsert_body
from esp.ometria.payloads import contact_record
from syncapp.adapters import PushItem


@pytest.mark.parametrize(("value", "intent"), [
    (True, GRANT), ("Y", GRANT), ("EXPLICITLY_OPTEDIN", GRANT), (False, WITHDRAW), ("n", WITHDRAW),
    ("EXPLICITLY_OPTEDOUT", WITHDRAW), (None, None), ("", None), ("NOT_SPECIFIED", None), ("maybe", None)])
def test_a_consent_value_grants_withdraws_or_says_nothing(value, intent):
    assert consent_intent(value) == intent


def test_consent_fields_are_known_by_name_in_any_vendors_spelling():
    assert [is_consent_field(n) for n in ("MARKETINGCONSENT", "marketing_optin", "Opt-Out", "FULLNAME")] == [
        True, True, True, False]


def _item(consent) -> PushItem:
    return PushItem(key="C001", identifier="ann@example.com", fields={"FULLNAME": "Ann", "MARKETINGCONSENT": consent})


def test_dotdigital_is_told_an_opt_out_as_the_email_channel_unsubscribed_and_an_opt_in_as_nothing():
    unsubscribe = {"email": {"status": "unsubscribed"}}
    assert upsert_body(_item(False).fields)["channelProperties"] == unsubscribe  # a single PATCH
    assert contact_entry(_item(False))["channelProperties"] == unsubscribe  # an import row
    # A grant sets no status: new contacts start subscribed, held ones keep their own [V3C].
    assert "channelProperties" not in contact_entry(_item(True)) and "channelProperties" not in upsert_body({})


def test_ometria_is_told_an_opt_out_as_explicitly_opted_out_forced_when_the_account_forces_consent():
    item = PushItem(key="C001", identifier="ann@example.com", fields={"marketing_optin": False})

    record, problem = contact_record(item, collection="customers", force_optin=True)

    assert problem is None and (record["marketing_optin"], record["@force_optin"]) == ("EXPLICITLY_OPTEDOUT", True)
