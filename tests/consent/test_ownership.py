"""Field ownership as configuration: sensible defaults, conflicts refused on save with a
reason (model check, config as code), and the question the write-back asks."""
from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from esp.mapping import mapping_validate
from esp.models import FieldMapping
from esp.ownership import DESTINATION, ERP, fields_owned_by
from syncapp.config import ConfigError, config_apply, config_export

pytestmark = pytest.mark.django_db


def _mapping(flow, target: str) -> FieldMapping:
    return FieldMapping.objects.get(destination=flow.destination, target_field=target)


def test_master_data_and_figures_are_the_erps_and_consent_the_destinations_by_default(flow):
    owners = dict(FieldMapping.objects.filter(destination=flow.destination).values_list("target_field", "owner"))
    assert owners["MARKETINGCONSENT"] == DESTINATION
    assert {owners[name] for name in ("CARDCODE", "FULLNAME", "CITY", "LOYALTYTIER", "ORDERCOUNT")} == {ERP}


def test_the_write_back_asks_which_fields_the_destination_owns_by_flow_or_account(flow):
    by_flow = fields_owned_by(destination=flow, owner=DESTINATION)
    assert [(m.target_field, m.source_field) for m in by_flow] == [("MARKETINGCONSENT", "U_MarketingConsent")]
    assert fields_owned_by(destination=flow.destination, owner=DESTINATION) == by_flow
    assert "FULLNAME" in {m.target_field for m in fields_owned_by(destination=flow.destination, owner=ERP)}
    with pytest.raises(ValueError):
        fields_owned_by(destination=flow, owner="marketing")


def test_a_destination_owned_field_filled_from_master_data_is_refused_with_a_reason(flow):
    name = _mapping(flow, "FULLNAME")
    name.owner = DESTINATION
    problem = mapping_validate(mapping=name)["owner"]
    assert "FULLNAME cannot be the destination's" in problem and "Card name" in problem
    assert "user field (U_...)" in problem


def test_a_destination_owned_field_behind_an_erp_transform_is_refused_with_a_reason(flow):
    tier = _mapping(flow, "LOYALTYTIER")  # U_LoyaltyTier, trimmed for sending
    tier.owner = DESTINATION
    assert "“Trim spaces” is an ERP transform" in mapping_validate(mapping=tier)["transform"]
    tier.transform = "none"
    assert mapping_validate(mapping=tier) == {}


def test_one_erp_field_sent_by_the_erp_and_written_back_by_the_destination_is_refused(flow):
    second = FieldMapping(destination=flow.destination, entity="customers", source_field="U_MarketingConsent",
                          target_field="OPTIN_COPY", transform="none", owner=ERP)
    problem = mapping_validate(mapping=second)["owner"]
    assert "U_MarketingConsent also fills MARKETINGCONSENT, owned by the Destination" in problem
    second.owner = DESTINATION
    assert mapping_validate(mapping=second) == {}


def test_the_same_destination_field_twice_with_another_owner_is_refused(flow):
    again = FieldMapping(destination=flow.destination, entity="customers", source_field="U_Consent2",
                         target_field="marketingconsent", owner=ERP)
    assert "One destination field has one owner" in mapping_validate(mapping=again)["target_field"]


def test_config_as_code_carries_the_owner_and_refuses_a_conflicting_file(flow, tmp_path):
    exported = config_export()
    rows = {m["target_field"]: m for m in exported["destinations"][0]["mappings"]}
    assert (rows["MARKETINGCONSENT"]["owner"], rows["FULLNAME"]["owner"]) == (DESTINATION, ERP)

    path, again = tmp_path / "hub.yaml", tmp_path / "again.yaml"
    call_command("export_config", output=str(path))
    call_command("apply_config", str(path))
    call_command("export_config", output=str(again))
    assert again.read_bytes() == path.read_bytes() and b"owner: destination" in path.read_bytes()

    rows["FULLNAME"]["owner"] = DESTINATION
    with pytest.raises(ConfigError, match="FULLNAME cannot be the destination's"):
        config_apply(exported)
    assert _mapping(flow, "FULLNAME").owner == ERP


def test_a_file_written_before_owners_gets_the_owner_each_name_suggests(flow):
    exported = json.loads(json.dumps(config_export(), default=str))
    for row in exported["destinations"][0]["mappings"]:
        del row["owner"]
    FieldMapping.objects.filter(destination=flow.destination).update(owner=ERP)

    config_apply(exported)

    assert _mapping(flow, "MARKETINGCONSENT").owner == DESTINATION
    assert _mapping(flow, "FULLNAME").owner == ERP
