"""Import an Ometria "Email Events" file (self-serve data export), uploaded or from a folder.

Ometria exports email engagement (sends, opens, clicks) only as files (contract 2.5);
the file's columns are not published, so the columns accepted here are ours, named as
Ometria names the same facts elsewhere (`customer_id`, `profile_id`, ISO 8601
timestamps with an offset):

  required  event_type   send | open | click (also sent, opened, clicked; any case)
            timestamp    ISO 8601 with a time zone, e.g. 2026-11-02T10:00:00+00:00 or ...Z
            campaign_id  Ometria's campaign id
  one of    email        the contact's email
            customer_id  the ERP customer code sent to Ometria (used when there is no email)
  optional  campaign_name, url, profile_id, send_id (kept or ignored; never required)

A header may carry other columns (ignored). A file without a required column is refused
whole, with the missing names. Each bad row is refused alone with its reason and row
number (emails masked); the others are imported.
"""
from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from django.utils import timezone

from erp.models import BusinessPartner

from .models import ActivityImport, Campaign, Touch
from .touches import RowRefused, audience_refresh, contact_key, row_refuse, touch, touches_store

REQUIRED = ("event_type", "timestamp", "campaign_id")
IDENTITIES = ("email", "customer_id")
EVENT_TYPES = {"send": Touch.Kind.SEND, "sent": Touch.Kind.SEND, "open": Touch.Kind.OPEN,
               "opened": Touch.Kind.OPEN, "click": Touch.Kind.CLICK, "clicked": Touch.Kind.CLICK}
BATCH = 5000
MAX_FILE_BYTES = 200 * 1024 * 1024


class FileRefused(ValueError):
    """The file as a whole cannot be read; the message says why."""


def _timestamp(value: str) -> datetime:
    text = (value or "").strip()
    if not text:
        raise RowRefused("The row has no timestamp.")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RowRefused(f"The timestamp '{text[:40]}' is not an ISO 8601 date and time.") from None
    if moment.tzinfo is None:
        raise RowRefused(f"The timestamp '{text[:40]}' has no time zone (add Z or an offset such as +01:00).")
    return moment.astimezone(UTC)


def _header(fieldnames: Iterable[str] | None) -> dict[str, str]:
    names = {str(name or "").strip().lower(): name for name in (fieldnames or [])}
    missing = [name for name in REQUIRED if name not in names]
    if not any(name in names for name in IDENTITIES):
        missing.append("email or customer_id")
    if missing:
        raise FileRefused("This is not an Ometria Email Events file: it has no column "
                          + ", ".join(f"'{name}'" for name in missing) + ".")
    return names


def activity_import_ometria_file(*, account, stream, file_name: str) -> ActivityImport:
    """Read one Email Events file into touches; a refused file or row is kept with its reason."""
    job = ActivityImport.objects.create(account=account, source=ActivityImport.Source.OMETRIA_FILE,
                                        file_name=file_name[:255])
    # Bytes (an upload) are read as UTF-8, with or without a byte-order mark.
    text = stream if isinstance(stream, io.TextIOBase) else io.TextIOWrapper(stream, encoding="utf-8-sig",
                                                                             newline="")
    try:
        reader = csv.DictReader(text)
        names = _header(reader.fieldnames)
        _rows_import(job, reader, names)
    except (FileRefused, UnicodeDecodeError, csv.Error) as error:
        reason = str(error) if isinstance(error, FileRefused) else f"The file cannot be read as UTF-8 CSV: {error}"
        job.status, job.error = ActivityImport.Status.FAILED, reason[:2000]
        job.finished_at = timezone.now()
        job.save()
        return job
    job.status, job.finished_at = ActivityImport.Status.FINISHED, timezone.now()
    job.save()
    return job


def _rows_import(job: ActivityImport, reader: csv.DictReader, names: dict[str, str]) -> None:
    def cell(row: dict, name: str) -> str:
        column = names.get(name)
        return str(row.get(column) or "").strip() if column else ""

    campaigns: dict[str, Campaign] = {}
    customers: dict[str, str] = {}
    batch: list[Touch] = []
    for row in reader:
        job.rows_read += 1
        row_number = reader.line_num  # the file's line, header being line 1
        try:
            if None in row:
                raise RowRefused("The row has more cells than the header has columns.")
            kind = EVENT_TYPES.get(cell(row, "event_type").lower())
            if kind is None:
                raise RowRefused(f"Unknown event type '{cell(row, 'event_type')[:30]}' "
                                 "(expected send, open or click).")
            moment = _timestamp(cell(row, "timestamp"))
            campaign_id = cell(row, "campaign_id")
            if not campaign_id:
                raise RowRefused("The row has no campaign_id.")
            email = cell(row, "email") or _email_of_customer(job.account, cell(row, "customer_id"), customers)
            campaign = campaigns.get(campaign_id) or _campaign(job.account, campaign_id, cell(row, "campaign_name"))
            campaigns[campaign_id] = campaign
            batch.append(touch(campaign, kind, email, moment, contact_id=cell(row, "profile_id"),
                               url=cell(row, "url")))
        except RowRefused as refusal:
            row_refuse(job, row_number, str(refusal), {k: v for k, v in row.items() if k is not None})
            continue
        if len(batch) >= BATCH:
            job.rows_added += touches_store(batch)
            batch = []
    job.rows_added += touches_store(batch)
    audience_refresh(campaign.pk for campaign in campaigns.values())


def _email_of_customer(account, customer_id: str, cache: dict[str, str]) -> str:
    if not customer_id:
        raise RowRefused("The row has neither an email nor a customer_id.")
    if customer_id not in cache:
        emails = set(BusinessPartner.objects.filter(card_code=customer_id).exclude(email_normalised="")
                     .values_list("email_normalised", flat=True))
        if len(emails) != 1:
            raise RowRefused(f"Customer '{customer_id[:50]}' has no email in the ERP mirror, so its orders cannot be "
                             "matched." if not emails else
                             f"Customer '{customer_id[:50]}' has different emails in two ERP companies.")
        cache[customer_id] = emails.pop()
    return contact_key(cache[customer_id])


def _campaign(account, campaign_id: str, name: str) -> Campaign:
    campaign, created = Campaign.objects.get_or_create(account=account, external_id=campaign_id[:100],
                                                       defaults={"name": name[:255]})
    if name and not created and campaign.name != name:
        campaign.name = name[:255]
        campaign.save(update_fields=["name", "updated_at"])
    return campaign


def activity_import_ometria_folder(*, account, folder: Path) -> list[ActivityImport]:
    """Import every *.csv in `folder`, then move each into `folder/imported/` so it is read once."""
    done_dir = folder / "imported"
    done_dir.mkdir(exist_ok=True)
    imports = []
    for path in sorted(folder.glob("*.csv")):
        if path.stat().st_size > MAX_FILE_BYTES:
            job = ActivityImport.objects.create(
                account=account, source=ActivityImport.Source.OMETRIA_FILE, file_name=path.name,
                status=ActivityImport.Status.FAILED, finished_at=timezone.now(),
                error=f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; split the export.")
            imports.append(job)
            continue
        with path.open(encoding="utf-8-sig", newline="") as handle:
            imports.append(activity_import_ometria_file(account=account, stream=handle, file_name=path.name))
        shutil.move(str(path), str(done_dir / path.name))
    return imports
