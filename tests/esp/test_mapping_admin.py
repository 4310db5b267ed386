"""Editing accounts and mappings through the admin."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from esp import registry
from esp.default_mappings import DEFAULT_CUSTOMER_MAPPINGS
from esp.models import FieldMapping
from tests.factories import EspAccountFactory, FieldMappingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def refusing_adapter(monkeypatch):
    monkeypatch.setitem(
        registry.DESTINATION_ADAPTERS, "dotdigital", "tests.esp.test_mapping.RefusingLongNames"
    )


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw-not-secret")
    client.force_login(user)
    return client


def form_data(account, **overrides):
    data = {
        "destination": account.pk,
        "entity": "customers",
        "source_field": "U_Birthday",
        "transform": "date",
        "transform_arg": "",
        "target_field": "BIRTHDAY",
        "target_type": "Date",
        "required": "",
        "enabled": "on",
        "position": "10",
    }
    data.update(overrides)
    return data


def test_a_valid_mapping_posted_through_the_admin_is_saved(admin_client):
    account = EspAccountFactory()
    response = admin_client.post(reverse("admin:esp_fieldmapping_add"), form_data(account))
    assert response.status_code == 302
    saved = FieldMapping.objects.get(destination=account)
    assert (saved.source_field, saved.transform, saved.target_field) == (
        "U_Birthday",
        "date",
        "BIRTHDAY",
    )
    assert saved.transform_arg is None


def test_a_map_argument_is_saved_as_json(admin_client):
    account = EspAccountFactory()
    data = form_data(
        account,
        source_field="U_MarketingConsent",
        transform="map",
        transform_arg='{"Y": true, "N": false}',
        target_field="MARKETINGCONSENT",
        target_type="Boolean",
    )
    response = admin_client.post(reverse("admin:esp_fieldmapping_add"), data)
    assert response.status_code == 302
    assert FieldMapping.objects.get(destination=account).transform_arg == {"Y": True, "N": False}


def test_an_invalid_mapping_is_refused_with_each_problem_on_its_field(admin_client):
    account = EspAccountFactory()
    data = form_data(account, source_field="birthday", transform="map", target_field="A" * 21)
    response = admin_client.post(reverse("admin:esp_fieldmapping_add"), data)
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "is not a Business Partner field" in form.errors["source_field"][0]
    assert "JSON object" in form.errors["transform_arg"][0]
    assert form.errors["target_field"] == [f"{'A' * 21} is longer than 20 characters"]
    assert "is not a Business Partner field" in response.content.decode()
    assert not FieldMapping.objects.exists()


def test_a_target_already_mapped_is_refused_on_the_target_field(admin_client):
    existing = FieldMappingFactory(source_field="card_name", target_field="FULLNAME")
    data = form_data(
        existing.destination,
        source_field="card_code",
        transform="none",
        target_field="FullName",
        target_type="String",
    )
    response = admin_client.post(reverse("admin:esp_fieldmapping_add"), data)
    assert response.status_code == 200
    assert (
        "already filled from card_name"
        in response.context["adminform"].form.errors["target_field"][0]
    )


def test_editing_a_mapping_does_not_clash_with_itself(admin_client):
    existing = FieldMappingFactory(source_field="card_name", target_field="FULLNAME")
    data = form_data(
        existing.destination,
        source_field="card_name",
        transform="trim",
        target_field="FULLNAME",
        target_type="String",
    )
    response = admin_client.post(reverse("admin:esp_fieldmapping_change", args=[existing.pk]), data)
    assert response.status_code == 302
    existing.refresh_from_db()
    assert existing.transform == "trim"


def test_the_mapping_list_filters_by_transform(admin_client):
    FieldMappingFactory(transform="trim", target_field="TRIMMED")
    FieldMappingFactory(transform="upper", target_field="UPPERED")
    response = admin_client.get(reverse("admin:esp_fieldmapping_changelist"), {"transform": "trim"})
    assert response.status_code == 200
    assert "TRIMMED" in response.content.decode()
    assert "UPPERED" not in response.content.decode()


def test_the_account_page_shows_the_password_variable_name_only(admin_client, monkeypatch):
    monkeypatch.setenv("TEST_DOTDIGITAL_PASSWORD", "very-secret-value")
    account = EspAccountFactory()
    response = admin_client.get(reverse("admin:esp_espaccount_change", args=[account.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "TEST_DOTDIGITAL_PASSWORD" in body
    assert "very-secret-value" not in body


def test_the_account_action_installs_the_default_mappings(admin_client):
    account = EspAccountFactory()
    response = admin_client.post(
        reverse("admin:esp_espaccount_changelist"),
        {"action": "install_default_mappings", "_selected_action": [account.pk]},
    )
    assert response.status_code == 302
    assert FieldMapping.objects.filter(destination=account).count() == len(
        DEFAULT_CUSTOMER_MAPPINGS
    )
