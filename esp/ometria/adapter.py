"""Ometria as a destination: contacts, orders, products and dispatch events through
the push endpoint, confirmed later against Ometria's validation errors.

Ometria's 200 means received, not valid [OM-PUSH]. So `push()` sends one call of at
most 100 records of one type and answers "submitted" (receipt = Ometria's request id)
for each record it sent, "permanent" for records refused before sending (over 60 KB,
an unusable consent value), or raises for the whole call. Each call notes where it
stands among the reads of the errors list and how long Ometria's queue was; every
`errors_read_every_calls` calls' worth of records (account-wide) push() reads the list
itself, through the Data API's own bucket, so errors never pile up past the 100 Ometria
keeps. `confirm()` reads once more and decides (errors_list.py says how; confirm.py
where the state lives). Records (payloads.py) and defaults (defaults.py) are documented
where they are built.

Account options (EspAccount.options, checked by `validate_options`):
- `collection`: the contact collection (default "customers"); one per source, as
  Ometria advises.
- `force_optin`: send `@force_optin` with the ERP's consent (default off: Ometria's
  own precedence, where opt-outs win, decides).
- `validation_grace_seconds`: how long after submission a record without an error
  counts as accepted, on top of the queue's wait (default 300).
- `min_processing_rate`: the fewest records a second Ometria is assumed to validate
  (default 50). A record joining a queue of Q records waits a further Q / this rate
  before silence counts, unless later pushes' answers show that queue worked through
  sooner (then a grace after that); a full queue (50,000) adds 1,000 s. Conservative on
  purpose: Ometria's pace is undocumented, and erring low only delays the verdict.
  Grace plus a full queue's wait must stay within 3,000 s (the engine's confirm
  deadline is an hour).
- `errors_read_every_calls`: push() reads the errors list after this many calls' worth
  of records (default 5, i.e. 500 records). The list must gain fewer than 100 errors
  between two reads or they cannot be compared; 500 records at the worst realistic
  rate, 10% of records refused with one error each (a bad field in a slice of the ERP
  data), add 50, leaving the other half for other integrations on the account and for
  errors bunching when a queue drains. At 4 calls a second that is 0.8 reads a second of
  the Data API's 4. A worse rate (every record refused) overflows anyway: those records
  are then sent again, never accepted, and end as exceptions after the engine's attempts.
- `contact_id_prefix`: put before the CardCode in contact ids, e.g. when two ERP
  companies share one collection (default none).

Assumptions where Ometria's documentation is silent (esp-apis.md section 4), each the
least surprising reading, and each kept in one place:
- an error's `error_path` names its record as `<@type>[<id>] > <field>` (payloads.py),
  or indexes the pushed array, `root[<n>] > <field>` (the record at position n of the
  call that made it: refused when only one call can have, else sent again; each push
  notes its records in order for this); one that does neither (the documented "root >
  lastname") could be anyone's, so it counts as lost for everything sent before it was
  seen (errors_list.py);
- the errors list's order is unknown: both are tried (errors_list.py);
- a 429 carries no Retry-After; `X-QueueSize-Remaining` below the batch means the queue,
  anything else the rate (client.py); the queue headers on a push's answer give the
  depth its records joined (a missing header counts as a full queue), and Ometria works
  through its queue in order of receipt, so later answers can show that depth worked
  through (errors_list.queues_worked_through; whether a depth counts the call's own
  records is left open);
- a synchronous refusal's body is `{status, message}` or text (client.py);
- `marketing_optin` not known in the ERP is not sent; Ometria's own precedence keeps
  whatever consent it has (payloads.py).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from esp.consent_changes import ConsentChange
from syncapp.adapters import (
    AuthenticationFailed,
    DestinationLimits,
    FieldSpec,
    PushItem,
    PushResult,
    SubmittedItem,
    Throttle,
    TransportError,
)

from . import payloads
from .client import OmetriaClient, PushAnswer, RecordTooLarge, check_size
from .confirm import ErrorLedger, LedgerState, SentNote, errors_for, read_and_observe
from .defaults import DEFAULT_MAPPINGS, DEFAULT_ORDER_STATUSES
from .errors_list import (
    CLOCK_SKEW,
    GRACE_MAX,
    QUEUE_LIMIT,
    SUBMISSION_MARGIN,
    acceptance_wait,
    errors_after_send,
    lost_since_send,
    positional_errors,
    queues_worked_through,
    receipt_errors_missing,
    verdict_at,
)
from .profiles import contact_fields_from_profile, profile_of_contact

logger = logging.getLogger(__name__)

BATCH_SIZE = 100
CALLS_PER_SECOND = 4  # push and Data API each [OM-INTRO, older page; LARA]
BURST = 1  # Ometria counts calls per second: nothing banked, or an idle spell lets 7-8 through in one
# A bucket given a burst also keeps an arrival window (syncapp/ratelimit.py): each call holds
# its place until its answer is back, so a call slowed on the network cannot share Ometria's
# second with four sent after it: N records cost exactly ceil(N / 100) push calls, no 429.
ENTITIES = tuple(payloads.RECORD_TYPES)
OPTION_DEFAULTS: dict[str, Any] = {
    "collection": "customers", "force_optin": False, "validation_grace_seconds": 300, "contact_id_prefix": "",
    "min_processing_rate": 50, "errors_read_every_calls": 5,
}
READ_EVERY_MAX = 50


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def _options_problems(options: Any) -> dict[str, str]:
    if not isinstance(options, dict):
        return {"options": "Ometria options are a JSON object, e.g. {\"collection\": \"customers\"}."}
    problems: dict[str, str] = {}
    unknown = sorted(set(options) - set(OPTION_DEFAULTS))
    if unknown:
        problems["options"] = f"Unknown Ometria option(s): {', '.join(unknown)}; known: {', '.join(OPTION_DEFAULTS)}."
    collection = options.get("collection", OPTION_DEFAULTS["collection"])
    if not isinstance(collection, str) or not collection.strip() or len(collection) > 64 or " " in collection:
        problems["collection"] = "collection: a name of 1 to 64 characters without spaces, e.g. customers."
    if not isinstance(options.get("force_optin", False), bool):
        problems["force_optin"] = "force_optin: true or false."
    grace = options.get("validation_grace_seconds", OPTION_DEFAULTS["validation_grace_seconds"])
    if not _number(grace) or not 0 < grace <= GRACE_MAX:
        problems["validation_grace_seconds"] = (f"validation_grace_seconds: a number of seconds above 0 and at "
                                                f"most {GRACE_MAX:.0f}.")
    rate = options.get("min_processing_rate", OPTION_DEFAULTS["min_processing_rate"])
    if not _number(rate) or rate <= 0:
        problems["min_processing_rate"] = "min_processing_rate: records a second, above 0 (e.g. 50)."
    elif _number(grace) and grace + QUEUE_LIMIT / rate > GRACE_MAX:
        problems["min_processing_rate"] = (
            f"min_processing_rate: with a full queue ({QUEUE_LIMIT:,} records) a verdict would wait "
            f"{grace + QUEUE_LIMIT / rate:,.0f} s; grace plus {QUEUE_LIMIT:,} / rate must stay within "
            f"{GRACE_MAX:.0f} s (a higher rate or a shorter grace).")
    every = options.get("errors_read_every_calls", OPTION_DEFAULTS["errors_read_every_calls"])
    if isinstance(every, bool) or not isinstance(every, int) or not 1 <= every <= READ_EVERY_MAX:
        problems["errors_read_every_calls"] = (f"errors_read_every_calls: a whole number of push calls from 1 to "
                                               f"{READ_EVERY_MAX}.")
    prefix = options.get("contact_id_prefix", "")
    if not isinstance(prefix, str) or len(prefix) > 20 or "@" in prefix:
        problems["contact_id_prefix"] = "contact_id_prefix: at most 20 characters, no '@' (ids hold no personal data)."
    return problems


class OmetriaDestination:
    """DestinationAdapter for one Ometria account (`esp.models.EspAccount`, kind "ometria";
    `password_env` names the variable holding the API key)."""

    default_limits = DestinationLimits(batch_size=BATCH_SIZE, calls_per_minute=CALLS_PER_SECOND * 60,
                                       burst=BURST)
    # A verdict comes `validation_grace_seconds` (300 by default) after the push anyway, and
    # push() reads the errors list itself; asking every 30 s keeps the engine's confirm work
    # (it loads the flow's submitted rows) from eating into the 4 calls a second a long push
    # needs. (The work is per row decided, so a longer interval makes fewer, longer stalls.)
    confirm_interval = 30.0
    default_order_statuses = DEFAULT_ORDER_STATUSES
    # Ometria merges records on id: a provisional web order and its ERP order (same id, the
    # web reference) are one order there (see syncapp/planning_orders.py).
    merges_orders_by_id = True
    # Ometria processes what it took in order of receipt (the sandbox does; the provisional
    # orders above rely on it too), and links an order to the profile of its customer id: an
    # order may go once its customer was sent, without waiting for the customer's validation
    # (see syncapp/planning_orders.py: customers_at_destination).
    processes_in_order_of_receipt = True
    default_mappings = DEFAULT_MAPPINGS
    field_name_problem = staticmethod(payloads.field_name_problem)
    payload_size_problem = staticmethod(payloads.payload_size_problem)

    @staticmethod
    def record_view(entity: str) -> Callable[[PushItem], Any] | None:
        """An order as Ometria receives it: the engine's state only as status and validity, so a
        renamed state with the same status ("closed", then "dispatched") sends nothing again."""
        return _order_as_sent if entity == "orders" else None

    def __init__(
        self,
        account: Any,
        throttle: Throttle,
        *,
        client: OmetriaClient | None = None,
        read_throttle: Throttle | None = None,
        ledger: ErrorLedger | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        entities: Sequence[str] = ENTITIES,
    ) -> None:
        self.account = account
        self.entities = tuple(entities)
        self.options = self.options_for(account)
        self.clock = clock
        self.client = client or OmetriaClient(
            account.base_url, account.password(), throttle=throttle,
            read_throttle=read_throttle or data_api_throttle(account), sleep=sleep)
        self.ledger = ledger or ErrorLedger(f"{account.name}")
        self.limits = DestinationLimits(batch_size=BATCH_SIZE,
                                        calls_per_minute=account.calls_per_minute or CALLS_PER_SECOND * 60,
                                        burst=BURST)

    # ------------------------------------------------------------ options

    @staticmethod
    def validate_options(options: Any) -> dict[str, str]:
        """Problems with an account's options, by option name; empty when they are usable."""
        return _options_problems(options)

    @staticmethod
    def options_for(account: Any) -> dict[str, Any]:
        return OPTION_DEFAULTS | dict(getattr(account, "options", None) or {})

    @property
    def calls(self) -> int:
        return self.client.calls

    def probe(self) -> None:
        """The connection probe's cheap documented call, one token of the account's Data
        API bucket: GET /v2/push/_errors (read only; the ledger is not touched)."""
        self.client.push_errors()

    @property
    def grace(self) -> float:
        return float(self.options["validation_grace_seconds"])

    @property
    def first_verdict_seconds(self) -> float:
        """How long after a push its records' verdicts can first be due (the engine asks then)."""
        return self.grace

    def verdict_due_in(self, receipt: str, submitted_at: datetime) -> float:
        """Seconds until silence may first accept what the call `receipt` sent at `submitted_at`,
        as confirm() reckons it (errors_list.verdict_at): a grace after later pushes showed its
        queue worked through, or the grace plus that queue at the account's minimum pace. The
        engine times its next confirm by this. While no push has shown the queue worked through
        yet, one may at any moment: come back a grace from now at the latest."""
        try:
            note = self.ledger.notes([receipt]).get(receipt)
        except Exception:  # without the note confirm() assumes a full queue, and so does this
            logger.warning("Ometria send note unavailable; assuming a full queue", exc_info=True)
            note = None
        submitted, now = _epoch(submitted_at), self.clock()
        due_in = verdict_at(note, submitted, grace=self.grace, min_rate=self.min_rate) - now
        if due_in <= 0:
            return due_in
        worked = self._worked_through([receipt], since=submitted - SUBMISSION_MARGIN).get(receipt)
        if worked is None:
            return min(due_in, self.grace)
        return verdict_at(note, submitted, grace=self.grace, min_rate=self.min_rate, worked_through=worked) - now

    @property
    def min_rate(self) -> float:
        return float(self.options["min_processing_rate"])

    @property
    def read_every_records(self) -> int:
        return int(self.options["errors_read_every_calls"]) * BATCH_SIZE

    # ------------------------------------------------------------ interface

    def ensure_fields(self, entity: str, fields: Sequence[FieldSpec]) -> list[str]:
        """Ometria's records are schemaless (properties appear on first use): only names
        are checked, so a bad one fails the flow loudly instead of every record."""
        self._check_entity(entity)
        for spec in fields:
            problem = payloads.field_name_problem(spec.name)
            if problem:
                raise TransportError(problem, permanent=True, reason_code="invalid_field_name")
        return []

    def push(self, entity: str, items: Sequence[PushItem]) -> list[PushResult]:
        """One result per item, in order. Raises AuthenticationFailed, and TransportError
        when a call failed before Ometria took anything."""
        self._check_entity(entity)
        results: dict[int, PushResult] = {}
        sendable: list[tuple[int, dict[str, Any]]] = []
        for index, item in enumerate(items):
            record, problem = self.record_for(entity, item)
            if problem is None:
                try:
                    check_size(record)
                except RecordTooLarge as exc:
                    problem = exc
            if problem is None:
                sendable.append((index, record))
            else:
                results[index] = _refused(item, record, problem)
        for start in range(0, len(sendable), BATCH_SIZE):
            chunk = sendable[start:start + BATCH_SIZE]
            marker = self._marker()
            sent_at, sent_tick = self.clock(), self._tick()
            try:
                answer = self.client.push([record for _, record in chunk])
            except AuthenticationFailed:
                raise
            except TransportError as exc:
                if exc.transient and start == 0:
                    raise  # nothing went out: the engine retries the whole batch
                for index, record in chunk:
                    results[index] = PushResult(items[index].key, "permanent" if exc.permanent else "transient",
                                                reason_code=exc.reason_code, message=exc.message, request=record,
                                                response=exc.response)
                continue
            self._note_sent(answer, [record for _, record in chunk], marker, sent_at, sent_tick)
            if answer.rejected:
                # Ometria does not say which; their errors are listed and confirm() finds them.
                logger.warning("Ometria request %s: %d of %d records rejected on receipt", answer.request_id,
                               answer.rejected, len(chunk))
            for index, record in chunk:
                results[index] = PushResult(items[index].key, "submitted", remote_id=answer.request_id,
                                            request=record, response=answer.body)
            self._read_if_due(len(chunk))
        return [results[index] for index in range(len(items))]

    def confirm(self, entity: str, items: Sequence[SubmittedItem]) -> list[PushResult]:
        """Read the errors list once; decide what can be decided (errors_list.py)."""
        self._check_entity(entity)
        if not items:
            return []
        try:
            state = read_and_observe(self.ledger, self.client.push_errors, self.clock)
        except TransportError:
            raise
        except Exception as exc:  # the ledger's store (Redis, its lock): try again next round
            raise TransportError(f"Could not keep Ometria's confirm state: {type(exc).__name__}: {exc}",
                                 permanent=False, reason_code="confirm_state") from exc
        if state is None:
            raise TransportError("Another worker held Ometria's confirm state too long", permanent=False,
                                 reason_code="confirm_state")
        try:
            notes = self.ledger.notes([item.receipt for item in items])
        except Exception:  # without the notes, the engine's times less a margin are used
            logger.warning("Ometria send notes unavailable; using a margin", exc_info=True)
            notes = {}
        now = self.clock()
        # Only records the minimum pace does not already decide need a proof of their queue.
        undue = [item for item in items if now < verdict_at(notes.get(item.receipt), _epoch(item.submitted_at),
                                                             grace=self.grace, min_rate=self.min_rate)]
        worked = self._worked_through([item.receipt for item in undue],
                                      since=min((_epoch(i.submitted_at) for i in undue), default=now)
                                      - SUBMISSION_MARGIN)
        return self.decide(entity, items, state, now=now, notes=notes, worked_through=worked)

    def decide(self, entity: str, items: Sequence[SubmittedItem], state: LedgerState, *, now: float,
               notes: Mapping[str, SentNote] | None = None,
               worked_through: Mapping[str, float] | None = None) -> list[PushResult]:
        """What confirm() decides once the list is read (`worked_through`: when later pushes
        showed each call's queue worked through, by receipt; errors_list.queues_worked_through)."""
        record_type = payloads.RECORD_TYPES[entity]
        refs = {item.key: payloads.RecordRef(record_type, self.record_id(entity, item)) for item in items}
        found = errors_for(state, set(refs.values()))
        results: list[PushResult] = []
        for item in items:
            note = (notes or {}).get(item.receipt)
            submitted = _epoch(item.submitted_at)
            errors = errors_after_send(state, found.get(refs[item.key], []), note, submitted)
            position = note.position(refs[item.key]) if note is not None else None
            sole, shared = positional_errors(state, receipt=item.receipt, position=position, note=note,
                                             submitted_at=submitted)
            errors = sorted(errors + sole, key=lambda entry: (entry[5], entry[4]))
            if errors:
                results.append(self._refused_later(entity, item, errors))
            elif shared:
                latest = shared[-1]
                field = payloads.field_of_error_path(latest[3])
                results.append(PushResult(
                    item.key, "transient", remote_id=item.receipt, reason_code="errors_unconfirmed",
                    message=f"Ometria refused the record at position {latest[1]} of a call ({latest[2]}"
                            f"{f' at {field}' if field else ''}) without saying which call; it may be this "
                            "record, so its outcome is unknown and it is sent again.",
                    response=[{"error_message": e[2], "error_path": e[3]} for e in shared]))
            elif lost_since_send(state, note, submitted):
                results.append(PushResult(
                    item.key, "transient", remote_id=item.receipt, reason_code="errors_unconfirmed",
                    message="Ometria's errors list may have lost this record's errors (more than 100 since the "
                            "last read, or an error that does not say which record it is about), so its outcome "
                            "is unknown; it is sent again."))
            elif now >= verdict_at(note, submitted, grace=self.grace, min_rate=self.min_rate,
                                   worked_through=(worked_through or {}).get(item.receipt)):
                if receipt_errors_missing(state, note, submitted, receipt=item.receipt):
                    results.append(PushResult(
                        item.key, "transient", remote_id=item.receipt, reason_code="rejected_unlisted",
                        message=f"Ometria rejected {note.rejected} record(s) of this call on receipt but listed "
                                "errors for fewer, so this record may be one of them; it is sent again."))
                else:
                    results.append(PushResult(item.key, "accepted", remote_id=refs[item.key].id))
        return results

    # ------------------------------------------------------------ the errors list, as push() goes

    def _marker(self) -> tuple[str, int] | None:
        """Where the next call stands among the reads; a ledger with no reads yet gets its
        baseline first, so nothing this call sends counts as sent before one."""
        try:
            marker = self.ledger.marker()
            if marker is None:
                read_and_observe(self.ledger, self.client.push_errors, self.clock)
                marker = self.ledger.marker()
            return marker
        except Exception:  # confirm() then falls back to the engine's times (or finds the baseline later)
            logger.warning("Ometria's errors list could not be read before a push", exc_info=True)
            return None

    def _tick(self) -> int | None:
        try:
            return self.ledger.tick()
        except Exception:  # the call then neither proves nor is proven worked through (errors_list)
            logger.warning("Could not take the Ometria account's tick", exc_info=True)
            return None

    def _worked_through(self, receipts: Sequence[str], *, since: float) -> dict[str, float]:
        """When later pushes showed each call's queue worked through (errors_list.queues_worked_through),
        for the receipts that are shown so; the calls noted since `since` are read once."""
        if not receipts:
            return {}
        try:
            calls = self.ledger.recent_calls(since - CLOCK_SKEW)
        except Exception:  # then only the minimum pace decides, as before any proof
            logger.warning("Ometria's push calls could not be read; waiting at the minimum pace", exc_info=True)
            return {}
        proofs = queues_worked_through(calls)
        return {receipt: proofs[receipt] for receipt in receipts if receipt in proofs}

    def _note_sent(self, answer: PushAnswer, records: Sequence[Mapping[str, Any]],
                   marker: tuple[str, int] | None, at: float, sent_tick: int | None = None) -> None:
        answered_tick, answered_at = self._tick(), self.clock()
        epoch, seq = marker if marker is not None else ("", None)
        # In the order sent: a `root[<n>]` error names the record at position n of its call.
        refs = tuple((str(r["@type"]), str(r["id"])) for r in records)
        note = SentNote(at=at, epoch=epoch, seq=seq, queued=answer.queue.queued if answer.queue else None,
                        rejected=answer.rejected, refs=refs)
        try:
            self.ledger.note_sent(answer.request_id, note,
                                  due=at + acceptance_wait(note, grace=self.grace, min_rate=self.min_rate),
                                  sent_tick=sent_tick, answered_tick=answered_tick, answered_at=answered_at,
                                  joined=answer.accepted)
        except Exception:  # confirm() then falls back to the engine's time less a margin
            logger.warning("Could not note when Ometria request %s was sent", answer.request_id, exc_info=True)

    def _read_if_due(self, records: int) -> None:
        """Read the errors list once enough records went out (account-wide) since the last
        read that its 100 entries could fill; a worker already reading makes this one skip."""
        try:
            if self.ledger.count_sent(records) >= self.read_every_records:
                read_and_observe(self.ledger, self.client.push_errors, self.clock, wait=False)
        except Exception:  # a failed read costs nothing here: the next one, or confirm(), reads again
            logger.warning("Ometria's errors list could not be read during a push", exc_info=True)

    def read_back(self, entity: str, identifiers: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Contacts: the profiles holding each email address (`{"profiles": [...]}`), from
        the profiles endpoint, whose path is UNCONFIRMED (client.profiles). Other records
        have no read endpoint known: not supported."""
        if entity != "customers":
            raise TransportError(f"reading {entity} back from Ometria is not supported", permanent=True,
                                 reason_code="unsupported_read_back")
        found: dict[str, dict[str, Any]] = {}
        for email in identifiers:
            if held := self.client.profiles(email):
                found[email] = {"profiles": held}
        return found

    def consent_changes_since(self, since: datetime) -> list[ConsentChange]:
        """Contacts who unsubscribed at Ometria since `since` (all Ometria documents: esp/ometria/consent.py)."""
        from .consent import unsubscribes_since

        return list(unsubscribes_since(self.client, since))

    def read_back_fields(self, entity: str, items: Sequence[PushItem]) -> dict[str, dict[str, Any] | None]:
        """By item key: what Ometria's profile of the hub's listing shows for the fields in
        `item.fields`, by the same names (profiles.py says which it can show), or None when
        no profile holds the listing. Contacts only; the profiles path is UNCONFIRMED."""
        self._check_entity(entity)
        if entity != "customers":
            raise TransportError(f"reading {entity} back from Ometria is not supported", permanent=True,
                                 reason_code="unsupported_read_back")
        views: dict[str, dict[str, Any] | None] = {}
        for item in items:
            profile = profile_of_contact(self.client.profiles(item.identifier), str(item.key))
            views[item.key] = None if profile is None else contact_fields_from_profile(profile, item.fields)
        return views

    # ------------------------------------------------------------ records

    def record_id(self, entity: str, item: PushItem | SubmittedItem) -> str:
        return payloads.record_id(entity, item, id_prefix=self.options["contact_id_prefix"])

    def record_for(self, entity: str, item: PushItem | SubmittedItem) -> tuple[dict[str, Any], Any]:
        """(Ometria record, a TransportError refusing it locally or None)."""
        if entity == "customers":
            record, problem = payloads.contact_record(
                item, collection=self.options["collection"], id_prefix=self.options["contact_id_prefix"],
                force_optin=bool(self.options["force_optin"]))
            if problem:
                return record, TransportError(problem, permanent=True, reason_code="invalid_marketing_optin")
            return record, None
        if entity == "orders":
            return payloads.order_record(item, default_statuses=self.default_order_statuses), None
        if entity == "products":
            return payloads.product_record(item), None
        record = payloads.custom_event_record(item)
        if len(record["event_type"]) > payloads.EVENT_TYPE_MAX:
            return record, TransportError(
                f"Ometria event types are under 32 characters; {record['event_type']!r} would be cut short.",
                permanent=True, reason_code="event_type_too_long")
        return record, None

    def _refused_later(self, entity: str, item: SubmittedItem, errors: list[list[Any]]) -> PushResult:
        latest = errors[-1]
        field = payloads.field_of_error_path(latest[3])
        where = f" (at {field})" if field else ""
        more = f"; {len(errors) - 1} more error(s) for this record" if len(errors) > 1 else ""
        record, _ = self.record_for(entity, item)
        return PushResult(
            item.key, "permanent", remote_id=item.receipt, reason_code="validation_error",
            category="invalid_email" if entity == "customers" and field == "email" else "",
            message=f"Ometria took this record, then refused it: {latest[2]}{where}{more}",
            request=record, response=[{"error_message": e[2], "error_path": e[3]} for e in errors])

    def _check_entity(self, entity: str) -> None:
        if entity not in self.entities:
            raise TransportError(f"Ometria does not take {entity} here (it takes {', '.join(self.entities)})",
                                 permanent=True, reason_code="unsupported_entity")


def _refused(item: PushItem, record: Mapping[str, Any], problem: TransportError) -> PushResult:
    return PushResult(item.key, "permanent", reason_code=problem.reason_code, message=problem.message,
                      request=dict(record))


def _epoch(moment: Any) -> float:
    if isinstance(moment, datetime):
        return moment.timestamp()
    return float(moment)


def data_api_throttle(account: Any) -> Throttle:
    """The account's second bucket: Data API reads (the errors list) at 4 per second."""
    from syncapp.ratelimit import throttle_for

    reads = SimpleNamespace(kind=f"{account.kind}-data-api", name=account.name)
    return throttle_for(reads, CALLS_PER_SECOND * 60, burst=BURST)


def _order_as_sent(item: PushItem) -> dict[str, Any]:
    return payloads.order_record(item, default_statuses=DEFAULT_ORDER_STATUSES)
