"""apply_config / export_config know an ECC connection and its inbound settings."""
from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from erp.models import ErpConnection
from erp.sap_ecc.models import EccInbound

pytestmark = pytest.mark.django_db


def test_an_ecc_connection_round_trips_through_the_configuration_file(connection, tmp_path):
    EccInbound.objects.filter(connection=connection).update(deleted_customers="suppress", max_body_bytes=1_000_000,
                                                            credit_memo_types=["G2"], inbound_folder="/srv/idocs")
    exported = tmp_path / "hub.json"
    call_command("export_config", "--format", "json", "-o", str(exported))
    data = json.loads(exported.read_text())
    item = next(c for c in data["connections"] if c["name"] == "ecc")
    assert item["kind"] == "sap_ecc"
    assert item["source_settings"] == {"sender_partner": "ECDCLNT800", "max_body_bytes": 1_000_000,
                                       "deleted_customers": "suppress", "credit_memo_types": ["G2"],
                                       "inbound_folder": "/srv/idocs"}
    ErpConnection.objects.all().delete()
    call_command("apply_config", str(exported))
    inbound = EccInbound.objects.get(connection__name="ecc")
    assert (inbound.sender_partner, inbound.deleted_customers, inbound.inbound_folder) == (
        "ECDCLNT800", "suppress", "/srv/idocs")


def test_a_bad_ecc_setting_is_refused_and_changes_nothing(connection, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"version": 1, "connections": [
        {"name": "ecc", "kind": "sap_ecc", "username": "ECC_PARTNER", "password_env": "X",
         "source_settings": {"sender_partner": "ECDCLNT800", "deleted_customers": "shred"}}]}))
    with pytest.raises(CommandError, match="deleted_customers"):
        call_command("apply_config", str(path))
    assert EccInbound.objects.get(connection=connection).deleted_customers == "mark"
    path.write_text(json.dumps({"version": 1, "connections": [
        {"name": "ecc", "kind": "sap_ecc", "source_settings": {"sender": "X"}}]}))
    with pytest.raises(CommandError, match="unknown ECC settings"):
        call_command("apply_config", str(path))


def test_a_change_of_the_ecc_settings_is_in_the_audit_trail(connection):
    from audit.context import acting_as
    from audit.models import AuditEntry

    inbound = EccInbound.objects.get(connection=connection)
    with acting_as("admin"):
        inbound.sender_partner = "PRDCLNT100"
        inbound.save()
    change = AuditEntry.objects.filter(content_type__model="eccinbound", object_id=str(inbound.pk),
                                       action="update").get()
    assert (change.before["sender_partner"], change.after["sender_partner"], change.actor) == (
        "ECDCLNT800", "PRDCLNT100", "admin")
