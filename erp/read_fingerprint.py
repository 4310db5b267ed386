"""A record the ERP sends again unchanged costs one index probe, not an ingest.

A delta read re-reads its overlap window every pull (erp/sap_b1/adapter.py): in a peak
that is minutes of just-edited orders, most of a pull's records, and each was screened,
made canonical, hashed, staged and compared by the database only to be found unchanged.
Each mirror row therefore keeps `read_fingerprint`: a digest of the record as its source
read it (`SourceRecord.data`), salted with the digest of the code that turns such a record
into a row. The same record through the same code gives the same row, so before a page is
screened and written (`erp.ingest_guard`) its records whose fingerprint the mirror already
holds are set aside as unchanged, by one probe of the page's keys. A page read ahead is
asked the same while the page before it is stored (`syncapp.page_lookahead`), so its
screen skips them too.

- An upgrade that stores records differently changes the salt: each row is then written
  once more on its next read (its content compared as before), then set aside again.
- A row written another way (a provisional row, an older version of the hub) has no
  fingerprint and never matches.
- When a page repeats a key, its last read decides, as in the write itself.
- The fingerprint is made before the screen cleans a record; made after (a page the
  look-ahead did not see), a cleaned record's fingerprint differs from its next read's,
  which is then written again: a write too many, never one too few.
"""
from __future__ import annotations

import hashlib
import io
import pickle
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from syncapp.adapters import SourceRecord
from syncapp.bulksql import select_by_keys

from .record_checks import storable

FIELD = "read_fingerprint"
LENGTH = 32  # hex digits kept: 128 bits
BIGINT = 2 ** 63


@dataclass(frozen=True)
class Fingerprinted:
    """An entity whose mirror rows keep the fingerprint: the model and its key field."""

    model: Any
    key_field: str
    int_key: bool = False

    def key_of(self, record: SourceRecord) -> Any:
        """The row's key for this record (None: a key no row can have, so never set aside)."""
        key = record.key
        if not self.int_key:
            plain = isinstance(key, str) and ((key.isascii() and "\x00" not in key) or storable(key) == key)
            return key if plain else None
        number = int(key) if str(key).lstrip("-").isdigit() else None
        return number if number is not None and -BIGINT <= number < BIGINT else None


@cache
def _registry() -> dict[str, Fingerprinted]:
    from .documents import DOCUMENT_MODELS
    from .models import BusinessPartner

    return {"business_partners": Fingerprinted(BusinessPartner, "card_code"),
            **{entity: Fingerprinted(model, "doc_entry", int_key=True)
               for entity, (model, _, _) in DOCUMENT_MODELS.items()}}


@cache
def code_salt() -> bytes | None:
    """The digest of the code between a raw payload and its mirror row: every module of the
    `erp` package and its sources' packages (not their migrations, sandboxes or templates),
    and the record shape. None when the sources cannot be read (then nothing is set aside)."""
    root = Path(__file__).resolve().parent
    files = sorted(path for path in root.rglob("*.py")
                   if not {"migrations", "sandbox", "templates", "tests"} & set(path.relative_to(root).parts))
    files.append(root.parent / "syncapp" / "adapters.py")
    digest = hashlib.sha256()
    try:
        for path in files:
            digest.update(path.relative_to(root.parent).as_posix().encode())
            digest.update(path.read_bytes())
    except OSError:
        return None
    return digest.digest()


# The fingerprints made for the last pages, by record: the look-ahead (another thread) makes
# them, the page's write stores them. The record's data is kept beside its fingerprint, so
# an id can never be mistaken for a later object's.
_MADE: dict[int, tuple[Any, str | None]] = {}
_MADE_AT_MOST = 5_000  # a few pages: then made again, not kept for ever


def read_fingerprint(record: SourceRecord) -> str | None:
    """The fingerprint to store with this record's row (None: none can be made)."""
    data = record.data
    kept = _MADE.get(id(data))
    if kept is not None and kept[0] is data:
        return kept[1]
    salt = code_salt()
    try:
        payload = _pickled(data)
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):  # nothing a source converts to
        return None
    fingerprint = None if salt is None else hashlib.sha256(salt + payload).hexdigest()[:LENGTH]
    if len(_MADE) >= _MADE_AT_MOST:
        _MADE.clear()
    _MADE[id(data)] = (data, fingerprint)
    return fingerprint


def _as_text(value: date) -> tuple:
    # A call of `tuple`: bytes no plain value pickles to, so a date never equals a text.
    return tuple, ((type(value).__name__, value.isoformat()),)


_picklers = threading.local()


def _pickled(data: Any) -> bytes:
    """`data` as bytes, the same for equal records. One pickler per thread, kept: making one
    costs as much as the pickling; dates go as their ISO text, a third of a record's cost
    through their own reduce."""
    pickler = getattr(_picklers, "pickler", None)
    if pickler is None:
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=5)
        pickler.dispatch_table = {datetime: _as_text, date: _as_text}
        _picklers.pickler, _picklers.buffer = pickler, buffer
    buffer = _picklers.buffer
    buffer.seek(0)
    buffer.truncate()
    pickler.clear_memo()
    pickler.dump(data)
    return buffer.getvalue()


def unchanged_set_aside(*, connection, entity: str,
                        records: Sequence[SourceRecord]) -> tuple[list[SourceRecord], list[SourceRecord]]:
    """Split a page into (records to write, records the mirror holds as they were read), in
    page order. A record that could not be read is never set aside."""
    spec = _registry().get(entity)
    readable = [record for record in records if record.data is not None]
    if spec is None or not readable or code_salt() is None:
        return list(records), []
    last_read: dict[Any, str | None] = {}
    for record in readable:
        if (key := spec.key_of(record)) is not None:
            last_read[key] = read_fingerprint(record)  # a repeated key: its last read decides
    if not last_read:
        return list(records), []
    stored = select_by_keys(spec.model, [spec.key_field, FIELD], key=spec.key_field, keys=list(last_read),
                            where={"connection": connection.pk})
    held = {key for key, fingerprint in stored if fingerprint is not None and last_read.get(key) == fingerprint}
    if not held:
        return list(records), []
    to_write, unchanged = [], []
    for record in records:
        (unchanged if record.data is not None and spec.key_of(record) in held else to_write).append(record)
    return to_write, unchanged


def readable_key(entity: str, record: SourceRecord) -> str:
    """A record set aside, keyed as its entity's ingester reports the page's readable keys."""
    return str(_registry()[entity].key_of(record))
