"""The account a dotdigital sandbox holds: data fields, contacts and contact imports.

Documented choices where dotdigital's docs leave room:
- A suppressed contact in an import is not updated (the status summary says contacts
  "suppressed at the account level ... can't be updated"); it is counted in
  `summary.globallySuppressed` AND listed in `failures` ("contacts that were not
  imported") with failureCode `suppressed`. A single PATCH of a suppressed contact
  answers 200 with the contact unchanged and `status: suppressed`.
- Unknown data fields fail the whole request synchronously: 400
  `contacts:dataFieldNotFound` with one `details` entry per unknown name (v2 has
  ERROR_DATAFIELD_NOTFOUND; every row of one mapping shares the same field set, so
  a per-row report would repeat one configuration error thousands of times).
- Duplicate emails within one import fail every occurrence (`duplicateIdentifier`):
  which row is right is ambiguous, and the summary says such contacts "can't be
  updated or created".
- Data-field names and emails compare case-insensitively.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .consent import channel_status_apply, channel_status_problem

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z0-9-]{2,}$")
FIELD_NAME = re.compile(r"^[A-Za-z0-9_-]{1,20}$")
FIELD_TYPES = ("String", "Numeric", "Date", "Boolean")
VISIBILITIES = ("Private", "Public")
RESERVED_FIELD_NAMES = {
    "account",
    "campaign",
    "campaignid",
    "contact",
    "contact_api_id",
    "contactid",
    "email",
    "hcontactid",
    "hemail",
    "hemail256",
    "id",
    "messagecontent",
    "mobilenumberid",
    "notes",
    "unsubscribed",
    "uniquecontactid",
}
DEFAULT_FIELDS = ("FIRSTNAME", "LASTNAME", "FULLNAME", "GENDER", "POSTCODE")
IMPORT_MERGE = ("overwrite", "overwriteIfNotEmpty", "overwriteIfEmpty")
PATCH_MERGE = {
    "overwrite": "overwrite",
    "overwrite-if-not-empty": "overwriteIfNotEmpty",
    "overwrite-if-empty": "overwriteIfEmpty",
}


class SandboxError(Exception):
    """An HTTP error answer: rendered as v2 `{message}` or v3 `{errorCode, ...}`."""

    def __init__(
        self, status: int, code: str, description: str, details: list | None = None
    ) -> None:
        super().__init__(description)
        self.status, self.code, self.description, self.details = status, code, description, details


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bad_json(description: str, details: list | None = None) -> SandboxError:
    return SandboxError(400, "contacts:badJson", description, details)


@dataclass
class ContactImport:
    import_id: str
    due_at: float
    merge_option: str
    rows: list[dict[str, Any]]
    forced_status: str | None = None
    report: dict[str, Any] | None = None


@dataclass
class AccountState:
    """In-memory account. Callers hold the sandbox lock."""

    max_active_imports: int = 25
    data_fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    imports: dict[str, ContactImport] = field(default_factory=dict)
    next_contact_id: int = 1_000_001
    fail_next_import_with: str | None = None
    suppressions: list[dict[str, Any]] = field(default_factory=list)  # consent.py
    resubscribed: list[dict[str, Any]] = field(default_factory=list)  # consent.py

    def __post_init__(self) -> None:
        for name in DEFAULT_FIELDS:
            self.data_fields[name] = {
                "name": name,
                "type": "String",
                "visibility": "Private",
                "defaultValue": None,
            }

    # ------------------------------------------------------------ data fields

    def field_named(self, name: str) -> str | None:
        lowered = name.lower()
        return next((n for n in self.data_fields if n.lower() == lowered), None)

    def create_field(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise SandboxError(
                400, "ERROR_MALFORMED_REQUEST", "The request body is not a data field."
            )
        values = {str(k).lower(): v for k, v in body.items()}  # v2 keys arrive in any casing
        name = values.get("name")
        kind = values.get("type") or "String"
        visibility = values.get("visibility") or "Private"
        if not isinstance(name, str) or not FIELD_NAME.match(name):
            raise SandboxError(
                400,
                "ERROR_PARAMETER_INVALID",
                "Data field names are 1-20 letters, digits, '_' or '-'.",
            )
        if name.lower() in RESERVED_FIELD_NAMES:
            raise SandboxError(400, "ERROR_PARAMETER_INVALID", f"'{name}' is a reserved name.")
        if kind not in FIELD_TYPES or visibility not in VISIBILITIES:
            raise SandboxError(
                400, "ERROR_PARAMETER_INVALID", "Unknown data field type or visibility."
            )
        if self.field_named(name):
            raise SandboxError(400, "ERROR_NON_UNIQUE_DATAFIELD", "Field already exists.")
        record = {
            "name": name,
            "type": kind,
            "visibility": visibility,
            "defaultValue": values.get("defaultvalue"),
        }
        self.data_fields[name] = record
        return record

    def check_fields(self, data_fields: Any, where: str = "dataFields") -> dict[str, Any]:
        """Data fields renamed to the account's spelling; unknown names fail the request."""
        if data_fields is None:
            return {}
        if not isinstance(data_fields, dict):
            raise bad_json(
                "dataFields must be an object", [{"item": where, "description": "not an object"}]
            )
        known: dict[str, Any] = {}
        unknown = []
        for name, value in data_fields.items():
            canonical = self.field_named(str(name))
            if canonical is None:
                unknown.append(
                    {"item": str(name), "description": "No data field with this name exists"}
                )
            else:
                known[canonical] = value
        if unknown:
            raise SandboxError(
                400,
                "contacts:dataFieldNotFound",
                "Some data fields do not exist in the account",
                unknown,
            )
        return known

    # ------------------------------------------------------------ contacts

    def contact(self, identifier: str, value: str) -> dict[str, Any]:
        if identifier == "email":
            found = self.contacts.get(value.lower())
        elif identifier == "contactId":
            found = next((c for c in self.contacts.values() if str(c["contactId"]) == value), None)
        else:
            raise SandboxError(
                400, "contacts:invalidId", f"The sandbox has no identifier '{identifier}'"
            )
        if found is None:
            raise SandboxError(
                404,
                "contacts:contactNotFound",
                "The following contacts could not be found",
                [{"item": value, "description": f"Not found using the identifier '{identifier}'"}],
            )
        return found

    def new_contact(self, email: str, now: float) -> dict[str, Any]:
        contact = {
            "contactId": self.next_contact_id,
            "status": "subscribed",
            "created": iso(now),
            "updated": iso(now),
            "identifiers": {"email": email},
            "dataFields": {},
            "channelProperties": {
                "email": {"emailType": "Html", "optInType": "Unknown", "status": "subscribed"}
            },
        }
        self.next_contact_id += 1
        self.contacts[email.lower()] = contact
        return contact

    def suppress(self, email: str, now: float) -> dict[str, Any]:
        contact = self.contacts.get(email.lower()) or self.new_contact(email, now)
        contact["status"] = "suppressed"
        contact["channelProperties"]["email"]["status"] = "suppressed"
        return contact

    def patch(
        self, identifier: str, value: str, body: Any, merge: str, now: float
    ) -> tuple[dict, bool]:
        """PATCH /contacts/v3/{identifier}/{value}: (contact, created)."""
        if identifier != "email":
            raise SandboxError(400, "contacts:invalidId", "The sandbox upserts by email only")
        if not EMAIL.match(value):
            raise SandboxError(
                400,
                "contacts:invalidId",
                f"The id value '{value}' is invalid for the identifier 'email'",
            )
        if merge not in PATCH_MERGE:
            raise bad_json(f"merge-option '{merge}' is not supported")
        if not isinstance(body, dict):
            raise bad_json("The request JSON is badly formed")
        fields = self.check_fields(body.get("dataFields"))
        status_problem = channel_status_problem(body)
        if status_problem:
            raise bad_json(status_problem, [{"item": "channelProperties", "description": status_problem}])
        new_email = (body.get("identifiers") or {}).get("email") or value
        existing = self.contacts.get(value.lower())
        if new_email.lower() != value.lower() and new_email.lower() in self.contacts:
            raise SandboxError(
                409,
                "contacts:idAlreadyExists",
                f"The id value '{new_email}' for the identifier 'email' already exists. "
                "All identifiers must be unique!",
            )
        if existing is not None and existing["status"] == "suppressed":
            return existing, False
        contact = existing or self.new_contact(value, now)
        if new_email != contact["identifiers"]["email"]:
            del self.contacts[contact["identifiers"]["email"].lower()]
            contact["identifiers"]["email"] = new_email
            self.contacts[new_email.lower()] = contact
        merge_fields(contact["dataFields"], fields, PATCH_MERGE[merge])
        channel_status_apply(self, contact, body, now)
        contact["updated"] = iso(now)
        return contact, existing is None

    # ------------------------------------------------------------ imports

    def active_imports(self) -> int:
        return sum(1 for job in self.imports.values() if job.report is None)

    def submit_import(self, body: Any, now: float, delay: float) -> str:
        if not isinstance(body, dict) or not isinstance(body.get("contacts"), list):
            raise bad_json("The request JSON is badly formed")
        if not body["contacts"]:
            raise SandboxError(400, "contacts:noContactsSpecified", "No contacts were specified")
        merge = body.get("mergeOption", "overwrite")
        if merge not in IMPORT_MERGE:
            raise bad_json(
                "Unknown mergeOption", [{"item": "mergeOption", "description": str(merge)}]
            )
        rows = []
        for index, row in enumerate(body["contacts"]):
            if (
                not isinstance(row, dict)
                or not isinstance(row.get("identifiers"), dict)
                or not isinstance(row.get("matchIdentifier"), str)
            ):
                raise bad_json(
                    "Each contact needs matchIdentifier and identifiers",
                    [{"item": f"contacts[{index}]", "description": "not a contact"}],
                )
            if row["matchIdentifier"] != "email":
                raise bad_json(
                    "The sandbox matches contacts by email only",
                    [{"item": f"contacts[{index}].matchIdentifier", "description": "use email"}],
                )
            status_problem = channel_status_problem(row)
            if status_problem:
                raise bad_json(status_problem, [{"item": f"contacts[{index}].channelProperties",
                                                 "description": status_problem}])
            rows.append(
                {
                    **row,
                    "dataFields": self.check_fields(
                        row.get("dataFields"), f"contacts[{index}].dataFields"
                    ),
                }
            )
        if self.active_imports() >= self.max_active_imports:
            raise SandboxError(
                429,
                "contacts:tooManyActiveImports",
                "Your import request cannot be accepted as too many imports are being "
                "processed for you account. Please wait for an import to complete and "
                "then resubmit.",
            )
        job = ContactImport(str(uuid.uuid4()), now + delay, merge, rows, self.fail_next_import_with)
        self.fail_next_import_with = None
        self.imports[job.import_id] = job
        return job.import_id

    def settle(self, now: float) -> None:
        """Apply every import whose processing time has passed, oldest first."""
        for job in self.imports.values():
            if job.report is None and job.due_at <= now:
                job.report = self._apply(job, now)

    def import_status(self, import_id: str) -> dict[str, Any]:
        job = self.imports.get(import_id)
        if job is None:
            raise SandboxError(
                404,
                "contacts:importNotFound",
                f"The import request '{import_id}' could not be found!",
            )
        return job.report or {"importId": import_id, "status": "NotFinished"}

    def _apply(self, job: ContactImport, now: float) -> dict[str, Any]:
        if job.forced_status:
            return {"importId": job.import_id, "status": job.forced_status}
        summary = dict.fromkeys(
            (
                "newContacts",
                "updatedContacts",
                "globallySuppressed",
                "invalidEntries",
                "duplicateIdentifiers",
            ),
            0,
        )
        created, updated, failures = [], [], []
        emails = [str(r["identifiers"].get("email") or "") for r in job.rows]
        counts: dict[str, int] = {}
        for email in emails:
            counts[email.lower()] = counts.get(email.lower(), 0) + 1

        def fail(row: dict, code: str, description: str, contact_id: int | None = None) -> None:
            record = {
                "matchIdentifier": "email",
                "identifiers": row["identifiers"],
                "failures": [{"failureCode": code, "description": description}],
            }
            if contact_id is not None:
                record["contactId"] = contact_id
            failures.append(record)

        for row, email in zip(job.rows, emails, strict=True):
            existing = self.contacts.get(email.lower())
            if not EMAIL.match(email):
                summary["invalidEntries"] += 1
                fail(row, "invalidEmail", "Invalid value for 'email'")
            elif counts[email.lower()] > 1:
                summary["duplicateIdentifiers"] += 1
                fail(
                    row, "duplicateIdentifier", f"Duplicate identifier detected for email '{email}'"
                )
            elif existing is not None and existing["status"] == "suppressed":
                summary["globallySuppressed"] += 1
                fail(
                    row,
                    "suppressed",
                    "The contact is suppressed at the account level, so can't be updated",
                    existing["contactId"],
                )
            else:
                contact = existing or self.new_contact(email, now)
                merge_fields(contact["dataFields"], row["dataFields"], job.merge_option)
                channel_status_apply(self, contact, row, now)
                contact["updated"] = iso(now)
                reference = {"contactId": contact["contactId"], "identifiers": {"email": email}}
                (updated if existing else created).append(reference)
                summary["updatedContacts" if existing else "newContacts"] += 1
        return {
            "importId": job.import_id,
            "status": "Finished",
            "summary": summary,
            "created": created,
            "updated": updated,
            "failures": failures,
        }


def merge_fields(current: dict[str, Any], incoming: dict[str, Any], option: str) -> None:
    """Apply dotdigital's merge options; under `overwrite` a null clears the field."""
    for name, value in incoming.items():
        if option == "overwrite":
            if value is None:
                current.pop(name, None)
            else:
                current[name] = value
            continue
        if value is None or value == "":
            continue
        if option == "overwriteIfNotEmpty" or current.get(name) in (None, ""):
            current[name] = value
