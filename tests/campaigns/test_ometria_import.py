"""Ometria Email Events files: good rows imported, each bad row refused alone with its reason."""
import io
from pathlib import Path

import pytest

from erp.models import BusinessPartner
from reports.campaigns.models import ActivityImport, Campaign, Touch
from reports.campaigns.ometria_import import activity_import_ometria_file, activity_import_ometria_folder
from tests.factories import ErpConnectionFactory, EspAccountFactory

pytestmark = pytest.mark.django_db

FILE = """event_type,timestamp,campaign_id,campaign_name,email,customer_id,url
send,2026-11-02T08:00:00Z,om-7,Winter edit,anna@example.com,,
click,2026-11-02T10:15:00+01:00,om-7,Winter edit,Anna@Example.com,,https://shop.example/coats
open,2026-11-02T09:00:00Z,om-7,Winter edit,,C-BEN,
click,02/11/2026 10:00,om-7,Winter edit,cara@example.com,,
bounce,2026-11-02T10:00:00Z,om-7,Winter edit,cara@example.com,,
click,2026-11-02T10:00:00,om-7,Winter edit,cara@example.com,,
click,2026-11-02T10:00:00Z,,Winter edit,cara@example.com,,
click,2026-11-02T10:00:00Z,om-7,Winter edit,not-an-email,,
click,2026-11-02T10:00:00Z,om-7,Winter edit,,C-NOBODY,
click,2026-11-02T10:00:00Z,om-7,Winter edit,,,
click,2026-11-03T10:00:00Z,om-8,,dan@example.com,,,extra
"""


@pytest.fixture
def account():
    connection = ErpConnectionFactory()
    BusinessPartner.objects.create(connection=connection, card_code="C-BEN", card_type="cCustomer",
                                   email="Ben@example.com", email_normalised="ben@example.com", content_hash="x")
    return EspAccountFactory(name="ometria-main", kind="ometria")


def test_good_rows_are_imported_and_each_bad_row_is_refused_with_its_reason(account):
    job = activity_import_ometria_file(account=account, stream=io.BytesIO(FILE.encode()), file_name="events.csv")
    assert job.status == ActivityImport.Status.FINISHED
    assert (job.rows_read, job.rows_added, job.rows_refused) == (11, 3, 8)
    refused = {row.row_number: row.reason for row in job.refused.all()}
    assert refused == {
        5: "The timestamp '02/11/2026 10:00' is not an ISO 8601 date and time.",
        6: "Unknown event type 'bounce' (expected send, open or click).",
        7: "The timestamp '2026-11-02T10:00:00' has no time zone (add Z or an offset such as +01:00).",
        8: "The row has no campaign_id.",
        9: "'not-an-email' is not an email address.",
        10: "Customer 'C-NOBODY' has no email in the ERP mirror, so its orders cannot be matched.",
        11: "The row has neither an email nor a customer_id.",
        12: "The row has more cells than the header has columns.",
    }
    # No full email address is stored with a refusal.
    assert all("cara@example.com" not in row.row_excerpt for row in job.refused.all())
    campaign = Campaign.objects.get(account=account, external_id="om-7")
    assert campaign.name == "Winter edit"
    assert (campaign.contacts_with_send, campaign.contacts_clicked) == (1, 1)  # counted once imported
    touches = {(t.kind, t.contact_key, t.occurred_at.isoformat()) for t in Touch.objects.filter(campaign=campaign)}
    assert touches == {
        ("send", "anna@example.com", "2026-11-02T08:00:00+00:00"),
        ("click", "anna@example.com", "2026-11-02T09:15:00+00:00"),  # the offset honoured
        ("open", "ben@example.com", "2026-11-02T09:00:00+00:00"),  # found by the ERP customer code
    }


def test_the_same_file_twice_adds_nothing(account):
    activity_import_ometria_file(account=account, stream=io.BytesIO(FILE.encode()), file_name="a.csv")
    again = activity_import_ometria_file(account=account, stream=io.BytesIO(FILE.encode()), file_name="a.csv")
    assert again.rows_added == 0 and Touch.objects.count() == 3


def test_a_file_without_the_required_columns_is_refused_whole(account):
    job = activity_import_ometria_file(account=account, stream=io.BytesIO(b"type,when,who\nclick,x,y\n"),
                                       file_name="wrong.csv")
    assert job.status == ActivityImport.Status.FAILED
    assert job.error == ("This is not an Ometria Email Events file: it has no column 'event_type', 'timestamp', "
                         "'campaign_id', 'email or customer_id'.")
    assert not Touch.objects.exists()


def test_a_folder_is_read_once(account, tmp_path: Path):
    (tmp_path / "day1.csv").write_text(FILE, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not an export")
    jobs = activity_import_ometria_folder(account=account, folder=tmp_path)
    assert [job.file_name for job in jobs] == ["day1.csv"]
    assert (tmp_path / "imported" / "day1.csv").exists() and not (tmp_path / "day1.csv").exists()
    assert activity_import_ometria_folder(account=account, folder=tmp_path) == []


def test_the_command_reads_a_folder_and_attributes_again(account, tmp_path: Path):
    from django.core.management import call_command

    from reports.campaigns.models import AttributionRun

    (tmp_path / "day1.csv").write_text(FILE, encoding="utf-8")
    out = io.StringIO()
    call_command("campaigns_import", "--ometria", "ometria-main", "--folder", str(tmp_path), stdout=out)
    assert "day1.csv: Finished, 3 new events, 8 refused" in out.getvalue()
    assert AttributionRun.latest_finished() is not None
