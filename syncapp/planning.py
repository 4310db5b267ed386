"""Plan customers: turn changed Business Partners into contact payloads in the outbox.

For one flow and a set of record keys: choose who is eligible, settle duplicate
emails by the flow's policy, check the email, map the fields, and queue only payloads
whose hash differs from what the destination last accepted. Every record that cannot
be sent becomes (or stays) a visible exception; none is dropped.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from erp.customer_figures import customer_figures
from erp.models import BusinessPartner
from esp.mapping import compile_mappings, mappings_for, payload_size_check
from exceptions.conflicts import conflict_dissolve, conflict_record, conflicts_involving
from exceptions.models import DuplicateEmailConflict, Stage
from exceptions.services import exception_raise, exceptions_mark_retrying, exceptions_resolve

from .bulksql import fetch, quote, select_by_keys, values_table
from .duplicates import group_decide
from .models import DuplicateEmailPolicy, OutboxStatus, Priority
from .outbox import PlannedRecord, outbox_enqueue, outbox_stop

_email_validator = EmailValidator()


@dataclass
class PlanResult:
    queued: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def eligible_card_types(flow) -> list[str]:
    return ["customer", "lead"] if flow.include_leads else ["customer"]


# Plainly valid addresses (most of them) pass this without Django's fuller validator;
# everything else still goes through it.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")


def partner_email_problem(partner: BusinessPartner) -> str | None:
    email = partner.email.strip()
    if not email:
        return "missing_email"
    if len(email) <= 320 and _PLAIN_EMAIL.fullmatch(email):
        return None
    try:
        _email_validator(email)
    except ValidationError:
        return "invalid_email"
    return None


def _duplicate_groups(flow, partners: dict) -> tuple[dict[str, list], list[str]]:
    """Groups (by email) of two or more eligible partners touching these keys, and the
    keys of partners released from a conflict that no longer exists."""
    types = eligible_card_types(flow)
    emails = list({p.email_normalised for p in partners.values() if p.email_normalised and p.card_type in types})
    mirror = BusinessPartner.objects.filter(connection_id=flow.connection_id, card_type__in=types)
    groups: dict[str, list] = defaultdict(list)
    # Count first, load members only for the (rare) emails that really are shared.
    shared = _shared_emails(flow.connection_id, types, emails) if emails else []
    if shared:
        for member in mirror.filter(email_normalised__in=shared).defer("raw"):
            groups[member.email_normalised].append(member)
    released: list[str] = []
    for conflict in conflicts_involving(connection=flow.connection, card_codes=partners):
        if len(groups.get(conflict.email_normalised, ())) >= 2:
            continue
        still = BusinessPartner.objects.filter(
            connection_id=flow.connection_id, email_normalised=conflict.email_normalised, card_type__in=types)
        members = list(still)
        if len(members) >= 2:
            groups[conflict.email_normalised] = members
        else:
            conflict_dissolve(conflict=conflict)
            released.extend(m.card_code for m in members if m.card_code not in partners)
    return {email: members for email, members in groups.items() if len(members) >= 2}, released


def _shared_emails(connection_id: int, types: list[str], emails: list[str]) -> list[str]:
    """Which of `emails` two or more eligible partners share: one (connection, email) index
    probe per email, in one statement."""
    table = quote(BusinessPartner._meta.db_table)
    probe, params = values_table(emails)
    kinds = ", ".join(["%s"] * len(types))
    return [email for (email,) in fetch(
        f"SELECT k.value FROM {probe} k WHERE (SELECT COUNT(*) FROM {table} b WHERE b.connection_id = %s "
        f"AND b.email_normalised = k.value AND b.card_type IN ({kinds})) > 1", [*params, connection_id, *types])]


def flow_plan(*, flow, record_keys: list[str], force: bool = False, priority: int = Priority.ROUTINE,
              rows: dict | None = None) -> PlanResult:
    """Plan the given keys of one flow. Safe to repeat: unchanged records cost nothing.

    `rows` are the mirror rows of those keys when the caller has them in hand (ingest
    does), saving a read; otherwise they are read from the mirror.
    """
    entity = flow.entity
    result = PlanResult()
    partners = dict(rows) if rows is not None else partners_read(connection_id=flow.connection_id,
                                                                  card_codes=list(record_keys))
    groups, released = _duplicate_groups(flow, partners)
    if released:
        partners.update({p.card_code: p for p in BusinessPartner.objects.filter(
            connection_id=flow.connection_id, card_code__in=released).defer("raw")})

    types = eligible_card_types(flow)
    carried: dict[str, list[str]] = {}
    for email, members in groups.items():
        for member in members:
            partners[member.card_code] = member
        conflict = DuplicateEmailConflict.objects.filter(
            connection_id=flow.connection_id, email_normalised=email).first()
        held = flow.duplicate_policy == DuplicateEmailPolicy.REJECT_ALL
        if conflict is None or sorted(conflict.card_codes) != sorted(m.card_code for m in members):
            conflict = conflict_record(connection=flow.connection, email_normalised=email,
                                       card_codes=[m.card_code for m in members], held=held)
        decision = group_decide(policy=flow.duplicate_policy, partners=members, conflict=conflict)
        carried.update(decision.send)
        result.held.extend(decision.hold)
        result.skipped.extend(decision.skip)
    in_groups = set(result.held) | set(result.skipped)

    partners_attach_figures(flow, partners)
    mappings = mappings_for(destination=flow.destination, entity=entity)
    mapping = compile_mappings(mappings)
    card_code_targets = [m.target_field for m in mappings if m.source_field == "card_code"]
    too_big_for = payload_size_check(kind=flow.destination.kind)
    planned: list[PlannedRecord] = []
    problems: list[tuple[str, str, str, str]] = []  # key, reason, message, detail
    for key, partner in partners.items():
        if key in in_groups:
            continue
        if partner.card_type not in types:
            result.skipped.append(key)
            continue
        reason = partner_email_problem(partner)
        if reason:
            problems.append((key, reason, "", f"Email as held in the ERP: {partner.email!r}"))
            result.failed.append(key)
            continue
        mapped = mapping.apply(partner)
        if key in carried and len(carried[key]) > 1:
            # One contact carrying every CardCode of the group (the merge policy).
            mapped.fields.update({target: ",".join(carried[key]) for target in card_code_targets})
        if mapped.problems:
            message = "; ".join(p.message for p in mapped.problems)
            problems.append((key, mapped.problems[0].reason_code, message, ""))
            result.failed.append(key)
            continue
        too_big = too_big_for(mapped.fields)
        if too_big:  # refused here, per record, rather than sent to be cut or to fail its batch
            problems.append((key, "value_too_long_for_destination", too_big, ""))
            result.failed.append(key)
            continue
        planned.append(PlannedRecord(key=key, identifier=partner.email.strip(), payload=mapped.fields))

    enqueued = outbox_enqueue(flow=flow, records=planned, priority=priority, force=force)
    result.queued, result.unchanged = enqueued.queued, enqueued.unchanged
    result.failed.extend(enqueued.still_failed)
    exceptions_resolve(flow=flow, entity=entity, record_keys=result.unchanged)
    exceptions_mark_retrying(flow=flow, entity=entity, record_keys=result.queued)
    for key in result.held:
        email = partners[key].email_normalised
        others = [k for k in result.held if k != key and partners[k].email_normalised == email]
        problems.append((key, "duplicate_email", "", f"Email shared with Business Partner(s): {', '.join(others)}"))
    _raise_all(flow, problems)
    outbox_stop(flow=flow, record_keys=[k for k in result.failed if k not in enqueued.still_failed],
                status=OutboxStatus.FAILED)
    outbox_stop(flow=flow, record_keys=result.held, status=OutboxStatus.HELD)
    outbox_stop(flow=flow, record_keys=result.skipped, status=OutboxStatus.SKIPPED)
    exceptions_resolve(flow=flow, entity=entity, record_keys=result.skipped)
    return result


_PARTNER_FIELDS = [f.name for f in BusinessPartner._meta.concrete_fields if f.name not in ("connection", "raw")]


def partners_read(*, connection_id: int, card_codes: list[str]) -> dict:
    """The mirror's partners among `card_codes` as plain rows (every field but the raw
    payload, named as the model's), for planning: no model instances to build."""
    return {values[1]: SimpleNamespace(connection_id=connection_id, **dict(zip(_PARTNER_FIELDS, values, strict=True)))
            for values in select_by_keys(BusinessPartner, _PARTNER_FIELDS, key="card_code", keys=card_codes,
                                         where={"connection_id": connection_id})}


def partners_attach_figures(flow, partners: dict) -> None:
    """Order figures ride on each partner, so mappings can send them like any field."""
    figures = customer_figures(connection=flow.connection, card_codes=list(partners))
    for code, partner in partners.items():
        for name, value in figures[code].items():
            setattr(partner, name, value)


def _raise_all(flow, problems: list[tuple[str, str, str, str]]) -> None:
    """One exception per problem, with the source record as the ERP sent it."""
    if not problems:
        return
    raws = dict(BusinessPartner.objects.filter(
        connection_id=flow.connection_id, card_code__in=[key for key, *_ in problems]).values_list("card_code", "raw"))
    for key, reason_code, message, detail in problems:
        exception_raise(
            connection=flow.connection, flow=flow, entity=flow.entity, record_key=key, stage=Stage.PLAN,
            reason_code=reason_code, message=message, detail=detail, source_payload=raws.get(key) or None,
        )
