"""The IDoc monitor: who may see and reprocess, the filters, one IDoc's page."""
from __future__ import annotations

import pytest
from django.test import Client

from erp.sap_ecc.apply import idocs_apply
from erp.sap_ecc.models import Idoc
from syncapp.roles import FINANCE, INTEGRATION_ADMIN, MARKETING
from tests.web.factories import UserFactory

from .conftest import post_idocs

pytestmark = pytest.mark.django_db
ROLES = {"marketing": MARKETING, "finance": FINANCE, "admin": INTEGRATION_ADMIN}


def as_role(role: str) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(UserFactory(username=role, role=ROLES[role]))
    return client


@pytest.fixture
def received(http, connection, writer, settings):
    """A customer applied, a customer failed (a refused character), and a hostile message refused."""
    settings.SYNC_CONTROL_CHARACTERS = "refuse"
    post_idocs(http, writer.packet([writer.debmas("99009", "Jane Example"), writer.adrmas("99009", "j@example.com")]))
    post_idocs(http, writer.packet([writer.debmas("99010", "Bad \u202e<script>alert(1)</script>")]))
    post_idocs(http, writer.bomb())
    idocs_apply(connection)
    return {idoc.object_key or "refused": idoc for idoc in Idoc.objects.filter(message_type__in=["DEBMAS", ""])}


@pytest.mark.parametrize("role", ["anonymous", "marketing", "finance", "admin"])
def test_every_role_sees_the_monitor_and_anonymous_is_sent_to_log_in(received, role):
    client = as_role(role)
    for url in ("/ecc/idocs/", f"/ecc/idocs/{received['0000099010'].pk}/", "/ecc/idocs/?status=51"):
        answer = client.get(url)
        if role == "anonymous":
            assert answer.status_code == 302 and answer.url.startswith("/login/?next="), url
        else:
            assert answer.status_code == 200, (role, url)


@pytest.mark.parametrize("role,allowed", [("marketing", True), ("admin", True), ("finance", False),
                                          ("anonymous", False)])
def test_only_those_who_act_on_exceptions_may_reprocess(received, role, allowed, settings):
    settings.SYNC_CONTROL_CHARACTERS = "strip"
    failed = received["0000099010"]
    answer = as_role(role).post("/ecc/idocs/reprocess", {"idoc": [failed.pk]})
    assert answer.status_code == (302 if allowed or role == "anonymous" else 403)
    assert Idoc.objects.get(pk=failed.pk).status == (Idoc.Status.APPLIED if allowed else Idoc.Status.ERROR)


def test_filters_by_status_message_type_object_and_number(received):
    client = as_role("marketing")
    failed = received["0000099010"]
    page = client.get("/ecc/idocs/?status=51").content.decode()
    assert f"/ecc/idocs/{failed.pk}/" in page and f"/ecc/idocs/{received['0000099009'].pk}/" not in page
    page = client.get("/ecc/idocs/?object_key=99009").content.decode()  # as people write it, unpadded
    assert f"/ecc/idocs/{received['0000099009'].pk}/" in page and f"/ecc/idocs/{failed.pk}/" not in page
    page = client.get(f"/ecc/idocs/?docnum={failed.docnum.lstrip('0')}").content.decode()
    assert f"/ecc/idocs/{failed.pk}/" in page and f"/ecc/idocs/{received['0000099009'].pk}/" not in page
    page = client.get("/ecc/idocs/?message_type=ADRMAS").content.decode()
    assert "ADRMAS" in page and f"/ecc/idocs/{failed.pk}/" not in page
    assert client.get("/ecc/idocs/?received_from=not-a-date").status_code == 200


def test_one_idoc_shows_its_history_reason_segments_and_raw_xml_escaped(received):
    page = as_role("finance").get(f"/ecc/idocs/{received['0000099010'].pk}/").content.decode()
    assert "51 Error" in page and "received" in page
    assert "E1KNA1M" in page  # the parsed segments
    assert "&lt;script&gt;" in page and "<script>alert(1)</script>" not in page
    assert "Reprocess</button>" not in page  # finance reads only
    refused = as_role("admin").get(f"/ecc/idocs/{received['refused'].pk}/").content.decode()
    assert "56 Refused unread" in refused and "DTD" in refused
    assert "Reprocess</button>" not in refused  # nothing to apply


def test_reprocess_skips_idocs_that_are_not_failed_or_waiting(received):
    applied = received["0000099009"]
    answer = as_role("admin").post("/ecc/idocs/reprocess", {"idoc": [applied.pk, "x"]}, follow=True)
    assert "None of those IDocs can be reprocessed" in answer.content.decode()
    assert list(Idoc.objects.get(pk=applied.pk).history.values_list("status", flat=True)) == ["received", "53"]
