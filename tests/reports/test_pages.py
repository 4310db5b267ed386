"""Finance's reconciliation pages: each destination alone, document-level differences,
filters, CSV of every table, the printable view, re-send, and the roles on each."""
from __future__ import annotations

import csv
import io

import pytest
from django.contrib.admin.models import LogEntry

from audit.models import AuditEntry
from reports.models import Resend
from syncapp.models import OutboxItem, OutboxStatus

pytestmark = pytest.mark.django_db


def rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_page_opens_on_last_month_with_each_destination_on_its_own(as_role, month):
    html = as_role("finance").get("/reports/").content.decode()
    assert f"Reconciliation: {month.period.label}" in html
    assert html.count('class="destination"') == 2 and ">Total<" not in html  # no cross-destination total
    assert "Read back from dd" in html and "om offers no way to list its orders" in html
    assert "Missing at the destination" in html and 'data-key="1004"' in html
    assert "Waiting for customer" in html and "explained to the cent" in html
    assert "does not explain the gap" not in html
    assert f'href="/reports/documents/orders/{month.connection.pk}/1004/"' in html  # drill-down


def test_filters_narrow_the_differences_and_the_destinations(as_role, month):
    client = as_role("finance")
    html = client.get("/reports/", month.query(kind="missing", flow=month.om.pk)).content.decode()
    assert html.count('class="destination"') == 1 and "orders-om" in html
    assert 'data-key="1004"' in html and 'data-key="1003"' not in html
    html = client.get("/reports/", month.query(currency="eur")).content.decode()
    assert 'data-key="1004"' not in html


def test_a_start_after_the_end_is_refused_with_a_message(as_role, month):
    response = as_role("finance").get("/reports/", {"date_from": "2026-04-01", "date_to": "2026-03-01"})
    assert response.status_code == 200 and "The start date is after the end date." in response.content.decode()


def test_the_differences_csv_has_a_row_per_document_and_destination(as_role, month):
    response = as_role("finance").get("/reports/", month.query(format="csv", table="differences"))
    assert response["Content-Type"].startswith("text/csv")
    assert f"reconciliation_differences_{month.period.slug}.csv" in response["Content-Disposition"]
    found = {(r["destination"], r["record_key"], r["class"]): r for r in rows(response)}
    assert set(found) == {("dd", "1004", "missing"), ("om", "1004", "missing"), ("dd", "1003", "waiting"),
                          ("om", "1003", "waiting")}
    lost = found[("dd", "1004", "missing")]
    assert (lost["erp_value"], lost["destination_value"], lost["difference"], lost["currency"]) == (
        "30.00", "", "30.00", "GBP")
    assert found[("om", "1004", "missing")]["source"] == "ledger"


def test_every_table_downloads_at_document_level(as_role, month):
    client = as_role("finance")
    documents = rows(client.get("/reports/", month.query(format="csv", table="documents")))
    assert sorted((r["destination"], r["record_key"], r["class"]) for r in documents) == [
        ("dd", "1001", "matched"), ("dd", "1002", "matched"), ("dd", "1003", "waiting"), ("dd", "1004", "missing"),
        ("om", "1001", "matched"), ("om", "1002", "matched"), ("om", "1003", "waiting"), ("om", "1004", "missing")]
    currencies = rows(client.get("/reports/", month.query(format="csv", table="currencies")))
    gbp = next(r for r in currencies if r["destination"] == "dd" and r["currency"] == "GBP")
    assert (gbp["erp_value"], gbp["destination_value"], gbp["gap"], gbp["explained"]) == (
        "145.00", "100.00", "45.00", "yes")
    erp = rows(client.get("/reports/", month.query(format="csv", table="erp_currency")))
    assert [(r["currency"], r["orders_count"], r["orders_gross"], r["net"]) for r in erp] == [
        ("EUR", "1", "60.00", "60.00"), ("GBP", "3", "174.00", "174.00")]
    assert rows(client.get("/reports/", month.query(format="csv", table="erp_day")))[0]["day"]
    assert client.get("/reports/", month.query(format="csv", table="nope")).status_code == 404


def test_the_printable_view_has_every_difference_and_no_buttons(as_role, month):
    html = as_role("finance").get("/reports/", month.query(format="print")).content.decode()
    assert "Printed" in html and 'data-key="1004"' in html
    assert "<nav>" not in html and "Re-send" not in html and "<form" not in html


def test_the_document_page_shows_lines_totals_and_the_chain(as_role, month):
    html = as_role("finance").get(f"/reports/documents/orders/{month.connection.pk}/1004/").content.decode()
    assert "Sales order 504" in html and "Cushion" in html and "30.00" in html and "36.00" in html
    assert "Document chain" in html
    missing = as_role("finance").get(f"/reports/documents/orders/{month.connection.pk}/9999/")
    assert missing.status_code == 404


def test_resend_queues_the_differing_documents_and_is_audited(as_role, month):
    client = as_role("finance")
    response = client.post("/reports/resend/", {"flow": month.om.pk, "date_from": month.period.date_from,
                                                 "date_to": month.period.date_to})
    assert response.status_code == 302 and f"flow={month.om.pk}" in response.url
    resend = Resend.objects.get()
    assert resend.record_keys == ["1004"] and resend.requested_by.username == "finance"
    assert OutboxItem.objects.get(flow=month.om, record_key="1004").status == OutboxStatus.PENDING
    entry = AuditEntry.objects.get(content_type__model="resend")
    assert entry.actor == "finance" and entry.after["record_keys"] == ["1004"]


@pytest.mark.parametrize(("role", "status"), [("finance", 200), ("admin", 200), ("marketing", 403)])
def test_every_page_is_for_finance_and_admins(as_role, month, role, status):
    client = as_role(role)
    for url in ("/reports/", f"/reports/?{month.query_string()}&format=csv&table=documents",
                "/reports/?format=print", f"/reports/documents/orders/{month.connection.pk}/1004/"):
        assert client.get(url).status_code == status, url
    posted = client.post("/reports/resend/", {"flow": month.dd.pk, "date_from": month.period.date_from,
                                              "date_to": month.period.date_to})
    assert posted.status_code == (302 if status == 200 else 403)


def test_anonymous_users_are_sent_to_the_login_page(as_role, month):
    for url in ("/reports/?format=csv", "/reports/documents/orders/1/1/"):
        response = as_role("anonymous").get(url)
        assert response.status_code == 302 and response.url.startswith("/login/")
    assert as_role("anonymous").post("/reports/resend/").status_code == 302


def test_finance_retries_the_exceptions_it_owns_from_their_record_page(as_role, month, monkeypatch):
    retried = []

    def retry_now(*, exception, user):
        from exceptions.views_actions import RetryOutcome

        retried.append((exception.pk, user.username))
        return RetryOutcome(exception, "Retry requested.")

    monkeypatch.setattr("exceptions.views.exception_retry_now", retry_now)  # finance's retry answers through it
    client = as_role("finance")
    page = client.get(f"/exceptions/{month.total_mismatch.pk}/").content.decode()
    assert f'action="/reports/exceptions/{month.total_mismatch.pk}/retry/"' in page
    assert "Sales order 501" in page and "Cushion" in page and "Document chain" in page  # the order's record
    assert client.post(f"/reports/exceptions/{month.total_mismatch.pk}/retry/").status_code == 302
    assert retried == [(month.total_mismatch.pk, "finance")]
    # Marketing's exception: no Retry for finance, and the action refuses.
    page = client.get(f"/exceptions/{month.waiting.pk}/").content.decode()
    assert "/retry/" not in page
    assert client.post(f"/reports/exceptions/{month.waiting.pk}/retry/").status_code == 403
    assert as_role("marketing").post(f"/reports/exceptions/{month.total_mismatch.pk}/retry/").status_code == 302
    assert LogEntry.objects.count() == 0  # the fake retry wrote nothing; the real one logs (exceptions room)


def test_read_back_now_asks_a_worker_and_refuses_a_ledger_destination(as_role, month, monkeypatch):
    asked = []
    monkeypatch.setattr("reports.tasks.read_back_task.delay", asked.append)
    client = as_role("finance")
    assert client.post("/reports/read-back/", {"flow": month.dd.pk}).status_code == 302
    assert asked == [month.dd.pk]
    page = client.post("/reports/read-back/", {"flow": month.om.pk}, follow=True).content.decode()
    assert "om cannot list its orders" in page and asked == [month.dd.pk]
    assert "No such orders flow." in client.post("/reports/read-back/", {"flow": "x"}, follow=True).content.decode()
    assert as_role("marketing").post("/reports/read-back/", {"flow": month.dd.pk}).status_code == 403
