"""The admin as marketing and admins use it: exceptions with reasons, retry, conflicts."""
import pytest
from django.urls import reverse

from exceptions.models import DuplicateEmailConflict, SyncException
from syncapp.models import OutboxItem
from syncapp.services import connection_pull
from tests.syncapp.fakes import FakeSource, bp_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def problems(flow):
    connection_pull(connection=flow.connection, adapter=FakeSource([[
        bp_record("C001", email=""), bp_record("C002", email="jane@"),
        bp_record("C003", email="dup@example.com"), bp_record("C004", email="DUP@example.com"),
    ]]))
    return flow


def test_the_exception_list_shows_each_reason_in_plain_words(admin_client, problems):
    page = admin_client.get(reverse("admin:exceptions_syncexception_changelist")).content.decode()
    assert "No email address" in page and "Invalid email address" in page
    assert "Email shared by several customers" in page
    filtered = admin_client.get(reverse("admin:exceptions_syncexception_changelist") + "?reason=invalid_email")
    assert "C002" in filtered.content.decode() and "C001" not in filtered.content.decode()


def test_an_exception_page_says_what_to_do(admin_client, problems):
    exception = SyncException.objects.get(record_key="C001")
    page = admin_client.get(reverse("admin:exceptions_syncexception_change", args=[exception.pk])).content.decode()
    assert "Add the email address to the Business Partner in SAP" in page


def test_retry_selected_replans_from_the_current_data(admin_client, problems, monkeypatch):
    # The fix arrives through the ERP: the retry re-reads the records from the source.
    fixed = FakeSource([[bp_record("C001", email="c001@example.com"), bp_record("C002", email="jane@example.com")]])
    monkeypatch.setattr("syncapp.services.source_adapter_for", lambda connection: fixed)
    ids = list(SyncException.objects.filter(record_key__in=["C001", "C002"]).values_list("pk", flat=True))
    response = admin_client.post(reverse("admin:exceptions_syncexception_changelist"),
                                 {"action": "retry_selected", "_selected_action": ids})
    assert response.status_code == 302
    assert set(SyncException.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"retrying"}
    assert OutboxItem.objects.filter(record_key__in=["C001", "C002"], status="pending", priority=0).count() == 2


def test_the_retry_button_on_one_row_works(admin_client, problems, monkeypatch):
    fixed = FakeSource([[bp_record("C001", email="c001@example.com")]])
    monkeypatch.setattr("syncapp.services.source_adapter_for", lambda connection: fixed)
    exception = SyncException.objects.get(record_key="C001")
    url = reverse("admin:exceptions_retry_one", args=[exception.pk])
    confirm = admin_client.get(url)  # a GET only asks: a link cannot trigger a retry
    assert confirm.status_code == 200 and "Add the email address" in confirm.content.decode()
    assert not OutboxItem.objects.filter(record_key="C001").exists()
    response = admin_client.post(url)
    assert response.status_code == 302
    assert OutboxItem.objects.filter(record_key="C001", status="pending").exists()


def test_a_staff_user_without_change_rights_cannot_retry(client, django_user_model, problems):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(user)
    exception = SyncException.objects.get(record_key="C001")
    # The staff flag alone no longer opens the admin: only Integration admins (syncapp/admin_access.py).
    response = client.post(reverse("admin:exceptions_retry_one", args=[exception.pk]))
    assert response.status_code == 302 and response.url.startswith(reverse("admin:login"))
    assert SyncException.objects.get(pk=exception.pk).status == "open"


def test_choosing_a_winner_in_the_admin_releases_it(admin_client, problems):
    conflict = DuplicateEmailConflict.objects.get()
    url = reverse("admin:exceptions_duplicateemailconflict_change", args=[conflict.pk])
    refused = admin_client.post(url, {"resolution": "winner", "winner_card_code": "C999"})
    assert refused.status_code == 200 and "Enter one of the partners" in refused.content.decode()
    response = admin_client.post(url, {"resolution": "winner", "winner_card_code": "C004"})
    assert response.status_code == 302
    assert OutboxItem.objects.filter(record_key="C004", status="pending").exists()
    assert not OutboxItem.objects.filter(record_key="C003", status="pending").exists()
    conflict.refresh_from_db()
    assert conflict.resolved_by.username == "admin"


def test_the_mirror_and_outbox_lists_render(admin_client, problems):
    for name in ("erp_businesspartner", "syncapp_outboxitem", "syncapp_syncrun", "syncapp_flow",
                 "exceptions_duplicateemailconflict", "esp_fieldmapping", "erp_erpconnection", "erp_item",
                 "erp_warehouse", "erp_stocklevel", "esp_skurule", "esp_warehouserule", "erp_salesorder",
                 "erp_delivery", "erp_invoice", "erp_creditmemo", "erp_return"):
        assert admin_client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
