"""Receiving IDocs: every IDoc of a message is stored, with its control record and raw XML,
in the transaction whose commit is the answer to SAP; applying them comes after.

A repeated DOCNUM from the same sending partner is a duplicate: acknowledged, noted on
the IDoc already held, never applied twice. A message that cannot or must not be read
(unsafe XML, too large, not IDoc-XML, another partner's) is stored as refused and shown,
never processed.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.db import connection as db
from django.db import models, transaction
from django.utils import timezone

from erp.models import ErpConnection
from syncapp.bulksql import bulk_insert, json_text

from .families import FAMILY_ENTITY, family_of
from .idoc_xml import IdocRefused, ParsedIdoc, idocs_parse
from .messages.common import EccOptions, created_at, customer_of, object_of, sequence_of
from .models import EccInbound, Idoc, IdocStatusRecord

RAW_KEPT_WHEN_REFUSED = 64 * 1024  # what is kept of a refused message, to show what came


class WrongPartner(Exception):
    pass


@dataclass
class Receipt:
    """The answer to one message: what was stored, what was already held, what refused."""

    stored: list[str] = field(default_factory=list)  # DOCNUMs
    duplicates: list[str] = field(default_factory=list)
    refused: str = ""
    refused_status: int = 0  # the HTTP status for a refused message

    def as_json(self) -> dict:
        return {"received": len(self.stored), "duplicates": len(self.duplicates), "refused": self.refused,
                "idocs": [{"docnum": n, "status": "stored"} for n in self.stored]
                + [{"docnum": n, "status": "duplicate"} for n in self.duplicates]}


def ecc_options(inbound: EccInbound) -> EccOptions:
    kinds = tuple(inbound.credit_memo_types or ()) or EccOptions().credit_memo_types
    return EccOptions(deleted_customers=inbound.deleted_customers, credit_memo_types=kinds)


def idocs_receive(*, connection: ErpConnection, body: bytes, via: str) -> Receipt:
    """Store every IDoc of `body` (one commit); wake the worker that applies them."""
    inbound = EccInbound.objects.get(connection=connection)
    try:
        parsed = idocs_parse(body, max_bytes=inbound.max_body_bytes)
        _check_partner(parsed, inbound)
    except IdocRefused as refused:
        status = 413 if len(body) > inbound.max_body_bytes else 400
        return _refused(connection, body, via, refused.message, status)
    except WrongPartner as wrong:
        return _refused(connection, body, via, str(wrong), 403)
    receipt = Receipt()
    with transaction.atomic():
        _store(connection, parsed, via, ecc_options(inbound), receipt)
        transaction.on_commit(lambda: _wake(connection.pk))
    return receipt


def _check_partner(parsed: list[ParsedIdoc], inbound: EccInbound) -> None:
    for idoc in parsed:
        sender = idoc.control.get("SNDPRN", "")
        if sender != inbound.sender_partner:
            raise WrongPartner(
                f"IDoc {idoc.docnum.lstrip('0') or '(no number)'} was sent by partner {sender or '(none)'}, but this "
                f"connection takes IDocs from {inbound.sender_partner} only; the message was refused unread.")


def _store(connection, parsed: list[ParsedIdoc], via: str, options: EccOptions, receipt: Receipt) -> None:
    now = timezone.now()
    token = uuid.uuid4().hex
    by_docnum: dict[str, ParsedIdoc] = {}
    rows = []
    for idoc in parsed:
        if not idoc.docnum:
            rows.append(_row(connection, idoc, via, now, token, options,
                             problem="The IDoc has no number (EDI_DC40-DOCNUM); it cannot be told apart from a "
                                     "repeat, so it was not applied. Send it again from SAP (BD87/WE19)."))
        elif idoc.docnum in by_docnum:
            receipt.duplicates.append(idoc.docnum)  # the same IDoc twice in one message
        else:
            by_docnum[idoc.docnum] = idoc
    held = set(Idoc.objects.filter(connection=connection, sender_partner=_sender(parsed),
                                   docnum__in=list(by_docnum)).values_list("docnum", flat=True))
    rows += [_row(connection, idoc, via, now, token, options) for docnum, idoc in by_docnum.items()
             if docnum not in held]
    idocs_insert(rows)
    ours = dict(Idoc.objects.filter(receipt=token).values_list("id", "docnum"))
    bulk_insert(IdocStatusRecord, ["idoc", "status", "text", "at"],
                [(pk, "received", f"Received by {via}.", now) for pk in ours])
    _errors_at_receipt(token, now)
    receipt.stored = [docnum for docnum in ours.values() if docnum]
    again = [docnum for docnum in by_docnum if docnum not in set(ours.values())]
    receipt.duplicates += again
    if again:
        _note_duplicates(connection, _sender(parsed), again, via, now)


def _row(connection, idoc: ParsedIdoc, via: str, now, token: str, options: EccOptions, problem: str = "") -> Idoc:
    control = idoc.control
    family = family_of(control)
    found = object_of(idoc, options) if family else None
    entity, key = found if found else (FAMILY_ENTITY.get(family, ""), "")
    if not problem and not family:
        problem = (f"Message type {control.get('MESTYP') or '(none)'} ({control.get('IDOCTYP') or 'no basic type'}) "
                   "is not one the hub applies; it was kept as received.")
    elif not problem and not key:
        problem = "The IDoc names no customer, document or material the hub can recognise, so it was not applied."
    return Idoc(
        connection=connection, docnum=control.get("DOCNUM", "")[:16], message_type=control.get("MESTYP", "")[:30],
        basic_type=control.get("IDOCTYP", "")[:30], extension=control.get("CIMTYP", "")[:30],
        sender_partner=control.get("SNDPRN", "")[:10], sender_port=control.get("SNDPOR", "")[:10],
        created_in_sap=created_at(control), serial=control.get("SERIAL", "")[:20],
        sequence=sequence_of(control)[:64], entity=entity, family=family, object_key=key[:60],
        customer_key=(customer_of(idoc) or "")[:20] if family else "",
        status=Idoc.Status.ERROR if problem else Idoc.Status.READY, status_text=problem,
        control=control, raw_xml=idoc.raw_xml, received_via=via[:200],
        received_at=now, status_changed_at=now, receipt=token)


_COPIED = ("connection", "docnum", "message_type", "basic_type", "extension", "sender_partner", "sender_port",
           "created_in_sap", "serial", "sequence", "entity", "family", "object_key", "customer_key", "status",
           "status_text", "control", "raw_xml", "received_via", "received_at", "times_received",
           "status_changed_at", "receipt")


def idocs_insert(rows: list[Idoc]) -> None:
    """Insert new IDoc rows; one already held (the same DOCNUM from the partner, stored by a
    concurrent request) is skipped. PostgreSQL: COPY into a temporary table, then one
    INSERT ... SELECT: the ORM's array parameters would escape every quote of the raw XML
    in Python, most of the time of a 1,000-IDoc packet."""
    if db.vendor != "postgresql":
        Idoc.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        return
    fields = [Idoc._meta.get_field(name) for name in _COPIED]
    columns = ", ".join(db.ops.quote_name(field.column) for field in fields)
    table = db.ops.quote_name(Idoc._meta.db_table)
    with db.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS _idoc_staging AS SELECT {columns} FROM {table} WITH NO DATA")
        cursor.execute("TRUNCATE _idoc_staging")
        with cursor.cursor.copy(f"COPY _idoc_staging ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([_copy_value(field, getattr(row, field.attname)) for field in fields])
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _idoc_staging ON CONFLICT DO NOTHING")


def _copy_value(field, value):
    return json_text(value) if isinstance(field, models.JSONField) else value


def _errors_at_receipt(token: str, now) -> None:
    failed = list(Idoc.objects.filter(receipt=token, status=Idoc.Status.ERROR).values_list("id", "status_text"))
    IdocStatusRecord.objects.bulk_create(
        [IdocStatusRecord(idoc_id=pk, status=Idoc.Status.ERROR, text=text, at=now) for pk, text in failed])


def _note_duplicates(connection, sender: str, docnums: list[str], via: str, now) -> None:
    from django.db.models import F

    held = Idoc.objects.filter(connection=connection, sender_partner=sender, docnum__in=docnums)
    held.update(times_received=F("times_received") + 1)
    IdocStatusRecord.objects.bulk_create(
        [IdocStatusRecord(idoc_id=pk, status="duplicate", at=now,
                          text=f"Received again by {via}: a duplicate, acknowledged and not applied again.")
         for pk in held.values_list("id", flat=True)])


def _refused(connection, body: bytes, via: str, reason: str, status: int) -> Receipt:
    now = timezone.now()
    with transaction.atomic():
        idoc = Idoc.objects.create(
            connection=connection, status=Idoc.Status.REFUSED, status_text=reason, received_via=via[:200],
            raw_xml=body[:RAW_KEPT_WHEN_REFUSED].decode("utf-8", errors="replace"), received_at=now,
            status_changed_at=now)
        IdocStatusRecord.objects.create(idoc=idoc, status=Idoc.Status.REFUSED, text=reason, at=now)
    return Receipt(refused=reason, refused_status=status)


def _sender(parsed: list[ParsedIdoc]) -> str:
    return parsed[0].control.get("SNDPRN", "")[:10] if parsed else ""


def _wake(connection_id: int) -> None:
    from syncapp.incidents import task_enqueue

    from .tasks import idocs_apply_task

    task_enqueue(idocs_apply_task, connection_id)
