"""IDoc-XML -> parsed IDocs, safely and fast.

Layout (contract 2.1): a root named after the basic type (`<ORDERS05>`) or an extension
type (`<_-ABC_-ORDERS05_EXT>`), one `<IDOC BEGIN="1">` per IDoc, then `<EDI_DC40
SEGMENT="1">` with the control record, then the data segments, each an element with
`SEGMENT="1"` whose fields are child elements and whose child segments nest inside it.

Parsing is lxml's with a hardened parser: entities are never resolved, nothing is loaded
from the network or disk, no DTD is read, and a document that declares one (every XML
bomb and external-entity attack needs one) is refused; so is a body over the size limit,
before any of it is parsed. IDoc-XML never declares a DTD. Segment and field names in
customer namespaces (`_-NS_-SEG`) are kept as they arrive; unknown segments are kept too,
so they can be mapped like SAP B1 user fields.

Segments are held as the JSON-ready dicts they are stored as ({"segment", "fields",
"children"}); `Segment` wraps one without copying, so storing and re-reading a page of
IDocs costs one pass each.
"""
from __future__ import annotations

import re
from typing import Any

from lxml import etree

CONTROL_SEGMENT = "EDI_DC40"
CONTROL_FIELDS = ("DOCNUM", "MESTYP", "IDOCTYP", "CIMTYP", "SNDPOR", "SNDPRT", "SNDPRN", "RCVPRN",
                  "CREDAT", "CRETIM", "SERIAL", "MANDT", "DOCREL", "DIRECT", "MESCOD", "MESFCT")
_ENCODING = re.compile(rb"""<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']""")
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_IDOC_START, _IDOC_END = re.compile(rb"<IDOC[\s>/]"), b"</IDOC>"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                          huge_tree=False, remove_comments=True, remove_pis=True)


_UNSAFE = ("The message declares a DTD, entities or external references, which IDoc-XML never does; it was "
           "refused unread as unsafe.")


class IdocRefused(Exception):
    """The body cannot be taken at all; `message` says why in words a person can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Segment:
    """One data segment: its fields (element text by name) and its child segments."""

    __slots__ = ("_children", "_data", "fields", "name")

    def __init__(self, name: str, fields: dict[str, str] | None = None, children: list[Segment] | None = None):
        self.name, self.fields = name, fields if fields is not None else {}
        self._children: list[Segment] | None = list(children or [])
        self._data: list[dict[str, Any]] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Segment:
        segment = cls.__new__(cls)
        segment.name, segment.fields = data["segment"], data.get("fields") or {}
        segment._children, segment._data = None, data.get("children") or []
        return segment

    @property
    def children(self) -> list[Segment]:
        if self._children is None:
            self._children = [Segment.from_json(child) for child in self._data or ()]
        return self._children

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)

    def all(self, name: str) -> list[Segment]:
        """Child segments called `name` (a customer segment keeps its own, longer name)."""
        return [child for child in self.children if child.name == name]

    def first(self, name: str) -> Segment | None:
        found = self.all(name)
        return found[0] if found else None

    def as_json(self) -> dict[str, Any]:
        return {"segment": self.name, "fields": self.fields, "children": [c.as_json() for c in self.children]}

    def __repr__(self) -> str:
        return f"Segment({self.name!r}, {self.fields!r})"


class ParsedIdoc:
    """One IDoc: its control record and its top-level data segments.

    Built from the parsed tree (`element`), the segments' dicts are made only when asked
    for: receiving an IDoc needs its control record and a few key fields, which converters
    find through `find` in libxml2 at C speed; applying it needs them all."""

    def __init__(self, control: dict[str, str], segments_data: list[dict[str, Any]] | None = None,
                 raw_xml: str = "", element: Any = None) -> None:
        self.control, self.raw_xml, self.element = control, raw_xml, element
        self._data = segments_data
        self._segments: list[Segment] | None = None

    @classmethod
    def of(cls, control: dict[str, str], segments: list[Segment], raw_xml: str = "") -> ParsedIdoc:
        return cls(control, [segment.as_json() for segment in segments], raw_xml)

    @property
    def segments_data(self) -> list[dict[str, Any]]:
        if self._data is None:
            self._data = [_segment(child) for child in (self.element if self.element is not None else ())
                          if isinstance(child.tag, str) and child.tag != CONTROL_SEGMENT]
        return self._data

    def find(self, name: str) -> list[dict[str, Any]] | None:
        """Every segment called `name`, at any depth, as dicts; None when only a full walk
        can tell (the IDoc came from storage as dicts, not from a tree)."""
        if self._data is not None or self.element is None:
            return None
        return [_segment(found) for found in self.element.iter(name)]

    @property
    def segments(self) -> list[Segment]:
        if self._segments is None:
            self._segments = [Segment.from_json(data) for data in self.segments_data]
        return self._segments

    @property
    def docnum(self) -> str:
        return self.control.get("DOCNUM", "")

    @property
    def message_type(self) -> str:
        return self.control.get("MESTYP", "")

    @property
    def basic_type(self) -> str:
        return self.control.get("IDOCTYP", "")

    def all(self, name: str) -> list[Segment]:
        return [segment for segment in self.segments if segment.name == name]

    def first(self, name: str) -> Segment | None:
        found = self.all(name)
        return found[0] if found else None

    def segments_json(self) -> list[dict[str, Any]]:
        return self.segments_data

    def __repr__(self) -> str:
        return f"ParsedIdoc({self.docnum!r}, {self.message_type!r})"


def idocs_parse(body: bytes, *, max_bytes: int) -> list[ParsedIdoc]:
    """Every IDoc in one body. Raises IdocRefused for a body we must not or cannot read."""
    if len(body) > max_bytes:
        raise IdocRefused(f"The message is {len(body):,} bytes, over this connection's limit of {max_bytes:,} "
                          "bytes; it was not read. Split the packet in SAP (fewer IDocs per packet).")
    if _declares_dtd(body):
        raise IdocRefused(_UNSAFE)
    try:
        # Bytes, not text: libxml2 honours the declared encoding and refuses bytes invalid in it.
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as error:
        raise IdocRefused(f"The message is not well-formed XML ({error}); it was not read.") from None
    if root is None:
        raise IdocRefused("The message is empty; it was not read.")
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise IdocRefused(_UNSAFE)
    idoc_elements = [root] if root.tag == "IDOC" else [child for child in root if child.tag == "IDOC"]
    if not idoc_elements:
        raise IdocRefused(f"The message's root <{root.tag}> holds no <IDOC>; it is not IDoc-XML.")
    raws = _raw_texts(body, len(idoc_elements))
    return [_idoc(element, raws[n] if raws else None) for n, element in enumerate(idoc_elements)]


def _declares_dtd(body: bytes) -> bool:
    """A DOCTYPE near the start, found before parsing (so a bomb is named as one, not as
    whichever of libxml2's limits it meets first); the parsed tree is checked again after."""
    head = body[:65536]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        head = head.decode("utf-16", errors="ignore").encode("utf-8", errors="ignore")
    return b"<!DOCTYPE" in head


def idoc_from_raw(raw: str) -> ParsedIdoc:
    """An IDoc as stored (its raw XML, from the hub's own store: already found safe)."""
    text = _DECLARATION.sub("", raw, count=1)
    root = etree.fromstring(text.encode("utf-8"), _PARSER)
    element = root if root.tag == "IDOC" else next(child for child in root if child.tag == "IDOC")
    return _idoc(element, raw)


def _idoc(element, raw: str | None) -> ParsedIdoc:
    control: dict[str, str] = {}
    found = element.find(CONTROL_SEGMENT)
    if found is not None:
        control = {f.tag: (f.text or "").strip() for f in found if isinstance(f.tag, str) and len(f) == 0}
    if raw is None:
        raw = etree.tostring(element, encoding="unicode")
    return ParsedIdoc(control=control, raw_xml=raw, element=element)


def _segment(element) -> dict[str, Any]:
    fields: dict[str, str] = {}
    children: list[dict[str, Any]] = []
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if len(child) or child.get("SEGMENT") is not None:
            children.append(_segment(child))
        else:
            fields[tag] = (child.text or "").strip()
    return {"segment": element.tag, "fields": fields, "children": children}


def _raw_texts(body: bytes, count: int) -> list[str] | None:
    """Each IDoc's own XML, cut from the body as it came (not re-serialised). None when the
    cut cannot be trusted (the markers appear elsewhere, e.g. in a comment): then each IDoc
    is serialised from the tree instead."""
    text_of = _decoder(body)
    if text_of is None:
        return None
    if count == 1:
        return [text_of(body)]
    starts = [match.start() for match in _IDOC_START.finditer(body)]
    ends, at = [], 0
    while (found := body.find(_IDOC_END, at)) != -1:
        ends.append(found + len(_IDOC_END))
        at = found + 1
    if len(starts) != count or len(ends) != count or any(s >= e for s, e in zip(starts, ends, strict=True)):
        return None
    return [text_of(body[start:end]) for start, end in zip(starts, ends, strict=True)]


def _decoder(body: bytes):
    declared = _ENCODING.search(body[:200])
    encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or encoding.lower().startswith(("utf-16", "utf-32")):
        return None  # byte offsets of markers are not character boundaries there
    try:
        "".encode(encoding)
    except LookupError:
        return None
    return lambda part: part.decode(encoding, errors="replace")
