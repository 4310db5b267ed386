"""Engagement at dotdigital written back to SAP B1 Business Partners, end to end through
both sandboxes over real sockets: one schedule run, no echo in the next pull, no call for
unchanged values, SAP's refusals as exceptions that Retry clears."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from engagement.models import WriteBackRun
from engagement.tasks import engagement_writeback_all_task
from engagement.writeback import engagement_writeback
from erp.models import BusinessPartner
from exceptions.models import SyncException
from exceptions.services import exceptions_retry
from syncapp.models import OutboxItem, OutboxStatus
from syncapp.services import connection_pull

from .conftest import CAMPAIGN_NAME

pytestmark = pytest.mark.django_db


def test_a_click_at_dotdigital_reaches_the_business_partner_within_one_schedule_run(hub):
    hub.click()
    engagement_writeback_all_task()  # what beat runs: import the activity, then write it back
    written = hub.sap.partners["C001"]
    today = timezone.localdate().isoformat()
    assert (written["U_HubLastClick"], written["U_HubClicks30"], written["U_HubClicks90"]) == (today, 1, 1)
    assert (written["U_HubLastCampaign"], written["U_HubEmailStatus"]) == (CAMPAIGN_NAME, "subscribed")
    assert written["U_HubLastOpen"] is None and written["U_HubOpens30"] == 0
    assert "U_HubLastClick" not in hub.sap.partners["C002"]  # no activity: nothing written
    run = WriteBackRun.objects.get()
    assert (run.status, run.partners_written, run.patches, run.calls) == ("finished", 1, 1, 1)
    assert ("POST", "/b1s/v1/$batch") in hub.sap_writes()  # batched, as the contract allows


def test_each_write_takes_a_token_from_the_connections_bucket_and_batches_follow_the_setting(hub):
    from engagement.models import WriteBackSettings
    from tests.esp.dotdigital_support import RecordingThrottle

    WriteBackSettings.objects.filter(connection=hub.connection).update(batch_size=1)  # one PATCH per partner
    hub.click()
    hub.click("c002@example.com")
    throttle = RecordingThrottle()
    run = engagement_writeback(connection=hub.connection, throttle=throttle)
    assert (run.patches, run.calls, throttle.acquired) == (2, 2, 2)
    assert [path for _, path in hub.sap_writes() if "BusinessPartners" in path] == [
        "/b1s/v1/BusinessPartners('C001')", "/b1s/v1/BusinessPartners('C002')"]


def test_user_fields_are_created_at_set_up_with_their_types(hub):
    assert "U_HubLastClick" not in hub.sap.user_field_types()
    hub.click()
    engagement_writeback(connection=hub.connection)
    types = hub.sap.user_field_types()
    assert (types["U_HubLastClick"], types["U_HubOpens90"], types["U_HubEmailStatus"]) == (
        "db_Date", "db_Numeric", "db_Alpha")
    assert len(WriteBackRun.objects.get().fields_created) == 8


def test_the_next_pull_does_not_send_the_contact_again(hub):
    hub.click()
    hub.sap_clock.advance(minutes=3)  # the write-back's PATCH stamps UpdateDate later than the last pull
    engagement_writeback(connection=hub.connection)
    outbox_before = list(OutboxItem.objects.values_list("record_key", "generation", "status"))
    dd_calls = hub.dd_calls()
    pull = connection_pull(connection=hub.connection)
    # SAP reports C001 changed, so the pull reads it again (its whole extra cost) ...
    assert (pull.records_changed, pull.records_planned) == (1, 0)
    mirror = BusinessPartner.objects.get(card_code="C001")
    assert not [name for name in mirror.udfs if name.startswith("U_Hub")]  # engagement fields are never read
    # ... and plans nothing: the contact's payload is what dotdigital already accepted.
    assert list(OutboxItem.objects.values_list("record_key", "generation", "status")) == outbox_before
    assert not OutboxItem.objects.filter(status=OutboxStatus.PENDING).exists()
    hub.sync()
    assert hub.dd_calls() == dd_calls


def test_unchanged_values_make_no_patch(hub):
    hub.click()
    engagement_writeback(connection=hub.connection)
    writes, logins = len(hub.sap_writes()), hub.sap.login_count
    again = engagement_writeback(connection=hub.connection)
    assert (again.partners_changed, again.calls) == (0, 0)
    assert (len(hub.sap_writes()), hub.sap.login_count) == (writes, logins)  # not even a login
    hub.click(minutes_ago=1)  # a second click changes the counts: written again
    engagement_writeback(connection=hub.connection)
    assert hub.sap.partners["C001"]["U_HubClicks30"] == 2


def test_a_type_error_in_sap_is_an_exception_and_retry_writes_it_after_the_fix(hub):
    hub.click()
    engagement_writeback(connection=hub.connection)
    # Someone in SAP re-creates the clicks field as a date: the next values are refused.
    hub.sap.drop_user_field("HubClicks30")
    hub.sap.add_user_field("HubClicks30", "db_Date")
    hub.click(minutes_ago=1)
    run = engagement_writeback(connection=hub.connection)
    assert run.partners_failed == 1
    exception = SyncException.objects.get(entity="engagement", record_key="C001")
    assert (exception.reason_code, exception.status, exception.stage) == ("writeback_value_refused", "open", "push")
    assert "U_HubClicks30" in exception.message and "expected a date" in exception.message
    assert exception.source_payload["U_HubClicks30"] == 2
    # Refused values are not sent again every run; they wait for a person.
    writes = len(hub.sap_writes())
    engagement_writeback(connection=hub.connection)
    assert len(hub.sap_writes()) == writes
    # The fix in SAP, then Retry on the exceptions page.
    hub.sap.drop_user_field("HubClicks30")
    hub.sap.add_user_field("HubClicks30", "db_Numeric", 11)
    exceptions_retry(exceptions=SyncException.objects.filter(pk=exception.pk))
    exception.refresh_from_db()
    assert exception.status == "resolved"
    assert hub.sap.partners["C001"]["U_HubClicks30"] == 2


def test_a_field_the_erp_owns_is_never_written(hub):
    hub.connection.user_fields = [*hub.connection.user_fields, "U_HubLastClick"]  # the hub reads it from SAP
    hub.connection.save()
    hub.click()
    run = engagement_writeback(connection=hub.connection)
    assert run.status == "failed" and not hub.sap_writes()
    exception = SyncException.objects.get(entity="engagement")
    assert (exception.record_key, exception.reason_code) == ("field:U_HubLastClick", "writeback_field_owned_by_erp")
    hub.connection.user_fields = hub.connection.user_fields[:-1]  # the fix: the hub no longer reads it
    hub.connection.save()
    exceptions_retry(exceptions=SyncException.objects.filter(pk=exception.pk))
    exception.refresh_from_db()
    assert exception.status == "resolved"
    assert hub.sap.partners["C001"]["U_HubLastClick"] == timezone.localdate().isoformat()


def test_a_field_of_another_type_in_sap_stops_the_set_up(hub):
    hub.sap.add_user_field("HubEmailStatus", "db_Numeric", 11)
    hub.click()
    run = engagement_writeback(connection=hub.connection)
    assert run.status == "failed" and ("POST", "/b1s/v1/$batch") not in hub.sap_writes()
    exception = SyncException.objects.get(entity="engagement")
    assert (exception.record_key, exception.reason_code) == ("field:U_HubEmailStatus", "writeback_field_type_differs")


def test_counts_fall_back_to_zero_as_the_days_pass(hub):
    hub.click()
    engagement_writeback(connection=hub.connection)
    later = timezone.now() + timedelta(days=95)  # the click has left both windows; nothing new happened
    engagement_writeback(connection=hub.connection, now=later, import_activity=False)
    written = hub.sap.partners["C001"]
    assert (written["U_HubClicks30"], written["U_HubClicks90"]) == (0, 0)
    assert written["U_HubLastClick"] == timezone.localdate().isoformat()  # the last click stays the last click
    settled = engagement_writeback(connection=hub.connection, now=later + timedelta(days=1), import_activity=False)
    assert (settled.partners_considered, settled.partners_changed) == (0, 0)  # nothing left to fall


def test_health_shows_the_last_write_back_and_its_open_exceptions(hub, client):
    from syncapp.roles import MARKETING
    from tests.web.factories import UserFactory

    hub.sap.add_user_field("HubEmailStatus", "db_Numeric", 11)  # a set-up refusal: one open exception
    hub.click()
    engagement_writeback(connection=hub.connection)
    client.force_login(UserFactory(username="marketing", role=MARKETING))
    page = client.get("/health/").content.decode()
    assert "Engagement written back to SAP" in page and 'href="/exceptions/?entity=engagement">1</a>' in page
    assert "Stopped (the next run goes on)" in page
    listed = client.get("/exceptions/?entity=engagement&status=active").content.decode()
    assert "HubEmailStatus" in listed
    exception = SyncException.objects.get(entity="engagement")
    record = client.get(f"/exceptions/{exception.pk}/")
    assert record.status_code == 200 and "Engagement field has another type in SAP" in record.content.decode()


def test_the_command_sets_up_the_fields_and_runs_once(hub, capsys):
    from django.core.management import call_command

    call_command("engagement_writeback", hub.connection.name, "--setup")
    assert "User fields created: U_HubLastOpen, U_HubLastClick" in capsys.readouterr().out
    hub.click()
    call_command("engagement_writeback", hub.connection.name)
    assert "Finished: 1 partner(s) changed, 1 written, 0 refused, 1 request(s) for 1 write(s)." in (
        capsys.readouterr().out)
    assert hub.sap.partners["C001"]["U_HubClicks90"] == 1


def test_an_unsubscribe_read_back_reaches_sap_without_new_activity(hub):
    from consent.models import ConsentState

    hub.click()
    engagement_writeback(connection=hub.connection)
    ConsentState.objects.create(connection=hub.connection, card_code="C002", destination=hub.account,
                                status="unsubscribed", changed_at=timezone.now())
    engagement_writeback(connection=hub.connection, import_activity=False)
    assert hub.sap.partners["C002"]["U_HubEmailStatus"] == "unsubscribed"  # C002 never clicked
    assert hub.sap.partners["C002"]["U_HubClicks90"] == 0
