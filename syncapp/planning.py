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

from erp.contact_persons import split_contact_key
from erp.customer_figures import customer_figures
from erp.models import BusinessPartner
from esp.mapping import compile_mappings, mappings_for, payload_size_check
from exceptions.conflicts import conflict_dissolve, conflict_record, conflicts_involving
from exceptions.models import DuplicateEmailConflict, Stage
from exceptions.services import exception_raise, exceptions_mark_retrying, exceptions_resolve

from .bulksql import fetch, quote, select_by_keys, values_table
from .duplicates import group_decide
from .models import DuplicateEmailPolicy, OutboxStatus, Priority
from .outbox import PlannedRecord, outbox_enqueue, outbox_lock, outbox_stop
from .page_reads import read_shared
from .planning_contacts import (
    any_persons,
    buyers_attach_figures,
    contact_persons_plan,
    mapping_view,
    persons_sharing,
    persons_sharing_sql,
)
from .planning_owned import owned_fields_strip

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


def _duplicate_groups(flow, partners: dict, persons: bool) -> tuple[dict[str, list], list[str]]:
    """Groups (by email) of two or more eligible partners touching these keys, and the
    keys of partners released from a conflict that no longer exists. With `persons`, the
    contact persons that are contacts of their own count as partners (planning_contacts)."""
    types = eligible_card_types(flow)
    emails = list({p.email_normalised for p in partners.values() if p.email_normalised and p.card_type in types})
    mirror = BusinessPartner.objects.filter(connection_id=flow.connection_id, card_type__in=types)
    groups: dict[str, list] = defaultdict(list)
    # Count first, load members only for the (rare) emails that really are shared.
    shared = _shared_emails(flow.connection, types, emails, persons) if emails else []
    if shared:
        for member in mirror.filter(email_normalised__in=shared).defer("raw"):
            groups[member.email_normalised].append(member)
        for member in persons_sharing(flow=flow, types=types, emails=shared) if persons else ():
            groups[member.email_normalised].append(member)
    released: list[str] = []
    for conflict in conflicts_involving(connection=flow.connection, card_codes=partners):
        if len(groups.get(conflict.email_normalised, ())) >= 2:
            continue
        still = BusinessPartner.objects.filter(
            connection_id=flow.connection_id, email_normalised=conflict.email_normalised, card_type__in=types)
        members = list(still)
        if persons:
            members += persons_sharing(flow=flow, types=types, emails=[conflict.email_normalised])
        if len(members) >= 2:
            groups[conflict.email_normalised] = members
        else:
            conflict_dissolve(conflict=conflict)
            released.extend(m.card_code for m in members if m.card_code not in partners)
    return {email: members for email, members in groups.items() if len(members) >= 2}, released


def _shared_emails(connection, types: list[str], emails: list[str], persons: bool) -> list[str]:
    """Which of `emails` two or more eligible partners (and contact persons) share: one
    (connection, email) index probe per email, in one statement."""
    table = quote(BusinessPartner._meta.db_table)
    probe, params = values_table(emails)
    kinds = ", ".join(["%s"] * len(types))
    also, also_params = persons_sharing_sql(connection, types) if persons else ("0", [])
    return [email for (email,) in fetch(
        f"SELECT k.value FROM {probe} k WHERE (SELECT COUNT(*) FROM {table} b WHERE b.connection_id = %s "
        f"AND b.email_normalised = k.value AND b.card_type IN ({kinds})) + {also} > 1",
        [*params, connection.pk, *types, *also_params])]


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
    # B2B contact persons of these companies (and those asked for by key) plan beside them.
    persons = any_persons(flow.connection_id)
    contacts = contact_persons_plan(flow=flow, partners=partners, record_keys=record_keys) if persons else None
    if contacts:
        for key in contacts.skipped:
            partners.pop(key, None)
        partners.update(contacts.records)
    groups, released = _duplicate_groups(flow, partners, persons)
    if released:
        partners.update({p.card_code: p for p in BusinessPartner.objects.filter(
            connection_id=flow.connection_id, card_code__in=released).defer("raw")})
        released_persons = [key for key in released if split_contact_key(key) and key not in partners]
        if released_persons:
            partners.update(contact_persons_plan(flow=flow, partners={}, record_keys=released_persons).records)

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
    if persons:
        buyers_attach_figures(flow, partners)
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
        mapped = mapping.apply(mapping_view(partner))
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

    owned_fields_strip(flow=flow, mappings=mappings, planned=planned, force=force, partners=partners)  # consent stands
    # A new contact is time-sensitive (a welcome, and its first order waits for it); a backfill never is.
    new_priority = priority if priority == Priority.BACKFILL else min(priority, Priority.URGENT)
    outbox_lock(flow=flow, passes=[[record.key for record in planned], result.failed, result.held, result.skipped,
                                   contacts.skipped if contacts else []])
    enqueued = outbox_enqueue(flow=flow, records=planned, priority=priority, force=force, new_priority=new_priority)
    result.queued, result.unchanged = enqueued.queued, enqueued.unchanged
    if contacts:
        result.skipped.extend(contacts.skipped)
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
    """Order figures ride on each partner, so mappings can send them like any field; a
    contact person carries its company's."""
    companies = {key: getattr(partner, "company_code", key) for key, partner in partners.items()}
    # Shared by the customers flows of one page or figures chunk (syncapp.page_reads): the same customers.
    figures = read_shared(customer_figures, connection=flow.connection, card_codes=sorted(set(companies.values())))
    for key, partner in partners.items():
        for name, value in figures[companies[key]].items():
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
