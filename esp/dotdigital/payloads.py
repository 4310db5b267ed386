"""dotdigital's request and response shapes, and what their failure codes mean.

Pure functions: no HTTP here. Vendor shapes follow the v3 contacts OpenAPI
(`importContacts`, `getImportStatus`, `updateContact`) and the v2 `ApiDataField`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from esp.consent_values import withdraws_consent
from syncapp.adapters import PushItem

MERGE_OPTIONS = ("overwrite", "overwriteIfNotEmpty", "overwriteIfEmpty")
# The import body spells merge options in camelCase, the PATCH query string in kebab-case.
_PATCH_MERGE = {
    "overwrite": "overwrite",
    "overwriteIfNotEmpty": "overwrite-if-not-empty",
    "overwriteIfEmpty": "overwrite-if-empty",
}
UNSUBSCRIBED = "unsubscribed"  # the email channel status an opt-out writes
IMPORT_DONE = "Finished"
IMPORT_PENDING = "NotFinished"
IMPORT_REJECTED = ("RejectedByWatchdog", "Failed", "ExceedsAllowedContactLimit")

# failureCode -> what a marketer reads. Codes from the v3 import-status example
# (invalidEmail, duplicateIdentifier, consentRecordsNotApplied, contactNotFound);
# "suppressed" is the sandbox's documented choice (see sandbox/state.py).
FAILURE_MESSAGES = {
    "invalidEmail": "dotdigital refused the email address as invalid",
    "duplicateIdentifier": (
        "the same email address appeared more than once in one import, so dotdigital "
        "imported none of them; fix the duplicate email in the ERP"
    ),
    "suppressed": (
        "dotdigital keeps this contact suppressed (unsubscribed, bounced or complained), "
        "so it was not updated"
    ),
    "globallySuppressed": (
        "dotdigital keeps this contact suppressed (unsubscribed, bounced or complained), "
        "so it was not updated"
    ),
    "consentRecordsNotApplied": "dotdigital could not apply the consent records (badly formatted)",
    "contactNotFound": "dotdigital could not find the contact to update",
}

STATUS_MESSAGES = {
    "RejectedByWatchdog": (
        "dotdigital's Data Watchdog rejected the whole import as problematic data; "
        "contact dotdigital support or check the list's source"
    ),
    "Failed": "dotdigital reported the whole import as failed",
    "ExceedsAllowedContactLimit": (
        "the import would take the dotdigital account over its contact allowance"
    ),
}


# dotdigital codes the engine has its own names for (syncapp.adapters.PushResult.category).
_CATEGORIES = {
    "suppressed": "contact_suppressed",
    "ERROR_CONTACT_SUPPRESSED": "contact_suppressed",
    "invalidEmail": "invalid_email",
    "ERROR_INVALID_EMAIL": "invalid_email",
}


# A text data field holds at most 255 characters (dotdigital's data-field article; a newer,
# unconfirmed copy says 1,000). The documented figure is the safe one: a longer value is
# refused by the hub in planning, as a per-record exception, rather than sent to be cut.
DATA_FIELD_TEXT_MAX = 255


def payload_size_problem(fields: Mapping[str, Any]) -> str | None:
    """Why dotdigital would not take these data-field values whole, or None."""
    for name, value in fields.items():
        if isinstance(value, str) and len(value) > DATA_FIELD_TEXT_MAX:
            return (f"The value for {name} is {len(value):,} characters; dotdigital takes at most "
                    f"{DATA_FIELD_TEXT_MAX} in a text data field.")
    return None


def failure_category(code: str) -> str:
    return _CATEGORIES.get(code, "")


def describe_failure(code: str, description: str = "") -> tuple[str, str]:
    """(reason_code, plain message) for one import failure code."""
    message = FAILURE_MESSAGES.get(code)
    if message is None:
        message = (
            f"dotdigital did not import this contact: {description or code or 'no reason given'}"
        )
    return code or "import_failure", message


def patch_merge_option(merge_option: str) -> str:
    return _PATCH_MERGE.get(merge_option, merge_option)


def contact_entry(item: PushItem) -> dict[str, Any]:
    """One row of an import body, matched by email."""
    return {
        "matchIdentifier": "email",
        "identifiers": {"email": item.identifier},
        **upsert_body(item.fields),
    }


def import_body(
    contacts: Sequence[dict[str, Any]], merge_option: str = "overwrite"
) -> dict[str, Any]:
    if merge_option not in MERGE_OPTIONS:
        raise ValueError(f"merge option must be one of {MERGE_OPTIONS}, not {merge_option!r}")
    return {"mergeOption": merge_option, "contacts": list(contacts)}


def upsert_body(data_fields: Mapping[str, Any]) -> dict[str, Any]:
    """A contact's data fields, and its email channel unsubscribed when the ERP withdrew
    consent. A grant sets no status: a new contact starts subscribed, and an existing one
    keeps its own (an unsubscribed contact is never resubscribed) [V3C channelProperties]."""
    body: dict[str, Any] = {"dataFields": dict(data_fields)}
    if withdraws_consent(data_fields):
        body["channelProperties"] = {"email": {"status": UNSUBSCRIBED}}
    return body


def data_field_body(
    name: str, type: str, visibility: str = "Private", default: Any = None
) -> dict[str, Any]:
    return {"name": name, "type": type, "visibility": visibility, "defaultValue": default}


def entry_bytes(entry: Mapping[str, Any]) -> int:
    """Size of one row once serialised (as `requests` does: ASCII-escaped JSON)."""
    return len(json.dumps(entry)) + 2  # ", " between rows


def chunk_by_bytes(
    entries: Sequence[dict[str, Any]], max_bytes: int
) -> Iterator[list[dict[str, Any]]]:
    """Split rows so each body stays under `max_bytes` (one huge row still goes alone)."""
    chunk: list[dict[str, Any]] = []
    size = 64  # the envelope: {"mergeOption": ..., "contacts": []}
    for entry in entries:
        cost = entry_bytes(entry)
        if chunk and size + cost > max_bytes:
            yield chunk
            chunk, size = [], 64
        chunk.append(entry)
        size += cost
    if chunk:
        yield chunk


@dataclass
class ContactOutcome:
    """What an import report says about one email address."""

    contact_id: int | None = None
    created: bool = False
    updated: bool = False
    failures: list[dict[str, Any]] = field(default_factory=list)
    failure_record: dict[str, Any] | None = None


def _email_of(record: Mapping[str, Any]) -> str:
    identifiers = record.get("identifiers") or {}
    return str(identifiers.get("email") or "").strip().lower()


def parse_import_report(report: Mapping[str, Any]) -> dict[str, ContactOutcome]:
    """Per lower-cased email: created/updated with its contactId, or its failures.

    The spec notes a contact can be created yet listed in `failures` when part of its
    data did not apply, so a contact may carry both; failures win downstream.
    """
    outcomes: dict[str, ContactOutcome] = {}
    for key, flag in (("created", "created"), ("updated", "updated")):
        for record in report.get(key) or []:
            outcome = outcomes.setdefault(_email_of(record), ContactOutcome())
            outcome.contact_id = record.get("contactId", outcome.contact_id)
            setattr(outcome, flag, True)
    for record in report.get("failures") or []:
        outcome = outcomes.setdefault(_email_of(record), ContactOutcome())
        outcome.failures.extend(record.get("failures") or [])
        outcome.failure_record = dict(record)
        if record.get("contactId") is not None and outcome.contact_id is None:
            outcome.contact_id = record["contactId"]
    return outcomes


def contact_snapshot(contact: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a v3 contact that reconciliation compares."""
    email_channel = (contact.get("channelProperties") or {}).get("email") or {}
    return {
        "contactId": contact.get("contactId"),
        "status": contact.get("status"),
        "emailStatus": email_channel.get("status"),
        "dataFields": dict(contact.get("dataFields") or {}),
    }


def submitted_results(items, requests, import_id: str) -> list:
    """Every item of an import dotdigital took but has not finished: its receipt is the import
    id, and the confirm step reads the verdict later rather than send the records again."""
    from syncapp.adapters import PushResult

    return [PushResult(item.key, "submitted", remote_id=import_id, request=request, response={"importId": import_id})
            for item, request in zip(items, requests, strict=True)]


def batch_results(items, requests, exc) -> list:
    """Every item of a batch ends as the whole call did (a refused or failed import)."""
    from syncapp.adapters import PushResult

    outcome = "permanent" if exc.permanent else "transient"
    return [PushResult(key=item.key, outcome=outcome, reason_code=exc.reason_code, message=exc.message,
                       request=request, response=exc.response)
            for item, request in zip(items, requests, strict=True)]
