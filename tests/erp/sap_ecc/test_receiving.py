"""Receiving IDocs: authenticated per partner, stored first with their control record,
duplicates acknowledged once, hostile or oversized bodies refused and kept as refused."""
from __future__ import annotations

import pytest

from erp.sap_ecc.models import Idoc, IdocStatusRecord

from .conftest import basic_auth, ecc_connection, post_idocs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _store_only(monkeypatch):
    """These tests look at what is stored; applying is another file's (test_applying)."""
    monkeypatch.setattr("erp.sap_ecc.inbound._wake", lambda connection_id: None)


def test_an_idoc_is_stored_with_its_control_record_and_raw_xml(http, connection, writer):
    idoc = writer.debmas("99009", "Jane Example", city="Leeds")
    body = writer.packet([idoc])
    answer = post_idocs(http, body)
    assert answer.status_code == 200, answer.content
    assert answer.json()["received"] == 1
    stored = Idoc.objects.get()
    assert stored.docnum == idoc.docnum and len(stored.docnum) == 16
    assert (stored.message_type, stored.basic_type, stored.sender_partner) == ("DEBMAS", "DEBMAS07", "ECDCLNT800")
    assert stored.serial == idoc.serial and stored.created_in_sap is not None
    assert (stored.entity, stored.object_key, stored.status) == ("business_partners", "0000099009", "64")
    assert stored.raw_xml == body.decode()
    assert stored.control["DOCNUM"] == idoc.docnum
    assert IdocStatusRecord.objects.get(idoc=stored).status == "received"


def test_many_idocs_in_one_body_and_an_extension_root_are_each_stored(http, connection, writer):
    customer = writer.debmas("1", "Ann", extension_fields={"ZZLOYALTY": "GOLD"})
    other = writer.debmas("2", "Bob")
    answer = post_idocs(http, writer.packet([customer, other]))
    assert answer.json()["received"] == 2
    assert sorted(Idoc.objects.values_list("object_key", flat=True)) == ["0000000001", "0000000002"]
    assert all("<IDOC" in raw for raw in Idoc.objects.values_list("raw_xml", flat=True))


def test_a_bearer_token_is_accepted_and_wrong_credentials_are_not(http, connection, writer, settings):
    import os

    body = writer.packet([writer.debmas("3", "Cy")])
    assert post_idocs(http, body, auth="").status_code == 401
    assert post_idocs(http, body, auth=basic_auth(password="guess")).status_code == 401
    assert post_idocs(http, body, auth=basic_auth(user="SOMEONE")).status_code == 401
    assert post_idocs(http, body, auth="Bearer guess").status_code == 401
    assert not Idoc.objects.exists()
    assert post_idocs(http, body, auth=f"Bearer {os.environ['TEST_SAP_ECC_PASSWORD']}").status_code == 200


def test_an_unknown_connection_or_a_b1_connection_has_no_endpoint(http, connection, writer):
    from erp.models import ErpConnection

    ErpConnection.objects.create(name="b1", kind="sap_b1", base_url="http://b1", username="u", password_env="X")
    body = writer.packet([writer.debmas("3", "Cy")])
    assert post_idocs(http, body, name="nowhere").status_code == 404
    assert post_idocs(http, body, name="b1").status_code == 404
    assert http.get("/ecc/ecc/idocs").status_code == 405


def test_another_partners_idocs_are_refused_and_kept_as_refused(http, connection):
    from erp.sap_ecc.sandbox.idocs import IdocWriter

    stranger = IdocWriter(sender_partner="PRDCLNT100")
    answer = post_idocs(http, stranger.packet([stranger.debmas("4", "Di")]))
    assert answer.status_code == 403
    refused = Idoc.objects.get()
    assert refused.status == Idoc.Status.REFUSED and "PRDCLNT100" in refused.status_text
    assert not Idoc.objects.filter(status=Idoc.Status.READY).exists()


def test_a_repeated_docnum_is_acknowledged_as_a_duplicate_and_stored_once(http, connection, writer):
    body = writer.packet([writer.debmas("5", "Ed")])
    assert post_idocs(http, body).json()["received"] == 1
    again = post_idocs(http, body)
    assert again.status_code == 200 and again.json()["duplicates"] == 1 and again.json()["received"] == 0
    stored = Idoc.objects.get()
    assert stored.times_received == 2
    assert list(stored.history.values_list("status", flat=True)) == ["received", "duplicate"]


def test_the_same_docnum_from_another_connection_is_not_a_duplicate(http, connection, writer):
    ecc_connection("ecc2")
    body = writer.packet([writer.debmas("6", "Flo")])
    assert post_idocs(http, body).json()["received"] == 1
    assert post_idocs(http, body, name="ecc2").json()["received"] == 1
    assert Idoc.objects.count() == 2


@pytest.mark.parametrize("hostile", ["bomb", "external_entity"])
def test_an_xml_bomb_or_external_entity_is_refused_unread_and_kept(http, connection, writer, hostile):
    answer = post_idocs(http, getattr(writer, hostile)())
    assert answer.status_code == 400
    assert "DTD" in answer.json()["error"]
    refused = Idoc.objects.get()
    assert refused.status == Idoc.Status.REFUSED and refused.docnum == "" and refused.control == {}
    assert "root:" not in refused.raw_xml  # nothing of /etc/passwd was ever read


def test_an_oversized_body_is_refused_with_413_and_kept_in_part(http, writer):
    ecc_connection(max_body_bytes=5_000)
    answer = post_idocs(http, writer.oversized(50_000))
    assert answer.status_code == 413
    refused = Idoc.objects.get()
    assert refused.status == Idoc.Status.REFUSED and "5,000" in refused.status_text
    assert len(refused.raw_xml) <= 5_001


@pytest.mark.parametrize("body", [b"<DEBMAS07><IDOC BEGIN='1'>", b"\xff\xfe<x/>", b"<html>not an idoc</html>", b""])
def test_broken_or_foreign_bodies_are_refused_with_a_reason(http, connection, body):
    answer = post_idocs(http, body)
    assert answer.status_code == 400 and answer.json()["error"]
    assert Idoc.objects.get().status == Idoc.Status.REFUSED


def test_an_idoc_of_a_message_type_we_do_not_apply_is_stored_as_an_error(http, connection, writer):
    idoc = writer.debmas("7", "Gus").replace("<MESTYP>DEBMAS</MESTYP>", "<MESTYP>CREMAS</MESTYP>").replace(
        "<IDOCTYP>DEBMAS07</IDOCTYP>", "<IDOCTYP>CREMAS05</IDOCTYP>")
    answer = post_idocs(http, writer.packet([idoc], root="CREMAS05"))
    assert answer.status_code == 200
    stored = Idoc.objects.get()
    assert stored.status == Idoc.Status.ERROR and "CREMAS" in stored.status_text


def test_folder_import_moves_each_file_to_done_or_failed(connection, writer, tmp_path):
    from django.core.management import call_command

    (tmp_path / "0001.xml").write_bytes(writer.packet([writer.debmas("8", "Hal")]))
    (tmp_path / "0002.xml").write_bytes(writer.bomb())
    call_command("idoc_import", "ecc", str(tmp_path), "--no-apply")
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["0001.xml"]
    assert sorted(p.name for p in (tmp_path / "failed").iterdir()) == ["0002.xml"]
    assert not list(tmp_path.glob("*.xml"))
    assert Idoc.objects.filter(status=Idoc.Status.READY, received_via="file 0001.xml").count() == 1
    # The same file again (a crash before the move): a duplicate, moved to done.
    (tmp_path / "0001.xml").write_bytes((tmp_path / "done" / "0001.xml").read_bytes())
    call_command("idoc_import", "ecc", str(tmp_path), "--no-apply")
    assert Idoc.objects.filter(status=Idoc.Status.READY).count() == 1
