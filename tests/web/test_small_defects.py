"""Issue 14, defect 7 (the small ones): each a plain check of what a person sees."""
import logging
import re

import pytest
from django.contrib import admin
from django.utils.log import configure_logging
from rest_framework.test import APIClient

from accounts.tokens import api_token_issue
from esp.default_mappings import mappings_install_defaults
from esp.mapping import mapping_apply, mappings_for
from tests.factories import BusinessPartnerFactory, EspAccountFactory, FlowFactory
from tests.web.conftest import ROLE_USERS
from tests.web.factories import SyncExceptionFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_nav_separates_mappings_from_warehouse_rules(as_role):
    html = as_role("admin").get("/health/").content.decode()
    nav = re.search(r"<nav>(.*?)</nav>", html, re.DOTALL).group(1)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", nav))
    assert "Mappings Warehouse rules" in text
    assert "MappingsWarehouse" not in re.sub(r"<[^>]+>", "", nav)


def test_admin_names_are_english():
    names = {str(model._meta.verbose_name_plural) for model in admin.site._registry}
    assert "deliveries" in names and "deliverys" not in names
    assert not any(name.lower().startswith("esp account") for name in names)
    assert not any(re.search(r"\b(esp|erp|sku)\b", name) for name in names), names


def test_the_api_destination_filter_takes_the_name_its_answers_give():
    flow, other = FlowFactory(), FlowFactory()
    SyncExceptionFactory(flow=flow, record_key="MINE")
    SyncExceptionFactory(flow=other, record_key="OTHER")
    client = APIClient()
    token = api_token_issue(user=UserFactory(username="m", role=ROLE_USERS["marketing"]), name="t")[1]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    by_name = client.get("/api/exceptions/", {"destination": flow.destination.name})
    assert by_name.status_code == 200, by_name.content
    rows = by_name.json()["results"]
    assert [row["record_key"] for row in rows] == ["MINE"]
    assert rows[0]["destination"] == flow.destination.name
    by_id = client.get("/api/exceptions/", {"destination": flow.destination.pk}).json()["results"]
    assert [row["record_key"] for row in by_id] == ["MINE"]
    assert client.get("/api/exceptions/", {"destination": "no-such-destination"}).status_code == 400


@pytest.mark.parametrize("kind", ["dotdigital", "ometria"])
def test_a_partner_without_a_loyalty_tier_is_not_sent_the_word_none(kind):
    account = EspAccountFactory(kind=kind, options={"collection": "c"} if kind == "ometria" else {})
    mappings_install_defaults(destination=account)
    mappings = mappings_for(destination=account, entity="customers")
    tier = [m for m in mappings if m.source_field == "U_LoyaltyTier"]
    assert tier
    result = mapping_apply(mappings=tier, record=BusinessPartnerFactory(udfs={}))
    assert "None" not in [str(value) for value in result.fields.values() if value is not None]


@pytest.fixture
def demo_logging(settings):
    """Logging as the demo has it (DEBUG on), put back afterwards."""
    settings.DEBUG = True
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
    yield
    settings.DEBUG = False
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


def test_a_403_is_logged_once_without_a_traceback(as_role, demo_logging, monkeypatch):
    emitted = []
    # The configured console handlers only (pytest's capture handlers are StreamHandler subclasses).
    monkeypatch.setattr(logging.StreamHandler, "emit", lambda handler, record: emitted.append(
        (record.getMessage(), record.exc_info, record.exc_text)) if type(handler) is logging.StreamHandler else None)
    assert as_role("finance").get("/mappings/").status_code == 403
    forbidden = [entry for entry in emitted if "Forbidden" in entry[0]]
    assert len(forbidden) == 1
    assert forbidden[0][1] is None and not forbidden[0][2]
