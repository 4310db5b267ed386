"""IDoc-XML -> parsed IDocs, safely.

Layout (contract 2.1): a root named after the basic type (`<ORDERS05>`) or an extension
type (`<_-ABC_-ORDERS05_EXT>`), one `<IDOC BEGIN="1">` per IDoc, then `<EDI_DC40
SEGMENT="1">` with the control record, then the data segments, each an element with
`SEGMENT="1"` whose fields are child elements and whose child segments nest inside it.

Parsing is defusedxml's: a DTD, an entity declaration or an external reference is refused
outright (no billion-laughs, no file or network reads), and so is a body over the size
limit, before any of it is parsed. Segment and field names in customer namespaces
(`_-NS_-SEG`) are kept as they arrive; unknown segments are kept too, so they can be
mapped like SAP B1 user fields.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

CONTROL_SEGMENT = "EDI_DC40"
_ENCODING = re.compile(rb"""<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']""")
CONTROL_FIELDS = ("DOCNUM", "MESTYP", "IDOCTYP", "CIMTYP", "SNDPOR", "SNDPRT", "SNDPRN", "RCVPRN",
                  "CREDAT", "CRETIM", "SERIAL", "MANDT", "DOCREL", "DIRECT", "MESCOD", "MESFCT")


class IdocRefused(Exception):
    """The body cannot be taken at all; `message` says why in words a person can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Segment:
    """One data segment: its fields (element text by name) and its child segments."""

    name: str
    fields: dict[str, str] = field(default_factory=dict)
    children: list[Segment] = field(default_factory=list)

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)

    def all(self, name: str) -> list[Segment]:
        """Child segments called `name` (a customer-namespace prefix is ignored)."""
        return [child for child in self.children if base_name(child.name) == name]

    def first(self, name: str) -> Segment | None:
        found = self.all(name)
        return found[0] if found else None

    def as_json(self) -> dict[str, Any]:
        return {"segment": self.name, "fields": self.fields, "children": [c.as_json() for c in self.children]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Segment:
        return cls(data["segment"], dict(data.get("fields") or {}),
                   [cls.from_json(child) for child in data.get("children") or []])


@dataclass
class ParsedIdoc:
    """One IDoc: its control record and its top-level data segments."""

    control: dict[str, str]
    segments: list[Segment]
    raw_xml: str = ""

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
        return [segment for segment in self.segments if base_name(segment.name) == name]

    def first(self, name: str) -> Segment | None:
        found = self.all(name)
        return found[0] if found else None

    def segments_json(self) -> list[dict[str, Any]]:
        return [segment.as_json() for segment in self.segments]


def base_name(name: str) -> str:
    """`E1EDK01` for `E1EDK01`; a customer segment `_-ABC_-E1EDK01` keeps its full name
    (it is a different segment), so only SAP's own names are found by `first`/`all`."""
    return name


def idocs_parse(body: bytes, *, max_bytes: int) -> list[ParsedIdoc]:
    """Every IDoc in one body. Raises IdocRefused for a body we must not or cannot read."""
    if len(body) > max_bytes:
        raise IdocRefused(f"The message is {len(body):,} bytes, over this connection's limit of {max_bytes:,} "
                          "bytes; it was not read. Split the packet in SAP (fewer IDocs per packet).")
    try:
        # Bytes, not text: expat honours the declared encoding and refuses bytes invalid in it.
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        raise IdocRefused("The message declares a DTD, entities or external references, which IDoc-XML never "
                          f"does; it was refused unread as unsafe ({type(error).__name__}).") from None
    except ParseError as error:
        raise IdocRefused(f"The message is not well-formed XML ({error}); it was not read.") from None
    idoc_elements = [root] if root.tag == "IDOC" else [child for child in root if child.tag == "IDOC"]
    if not idoc_elements:
        raise IdocRefused(f"The message's root <{root.tag}> holds no <IDOC>; it is not IDoc-XML.")
    whole = _text_of(body) if len(idoc_elements) == 1 else None
    return [_idoc(element, whole) for element in idoc_elements]


def _text_of(body: bytes) -> str:
    declared = _ENCODING.search(body[:200])
    return body.decode(declared.group(1).decode("ascii") if declared else "utf-8")


def _idoc(element: Element, whole_text: str | None) -> ParsedIdoc:
    control: dict[str, str] = {}
    segments: list[Segment] = []
    for child in element:
        if child.tag == CONTROL_SEGMENT:
            control = {field.tag: (field.text or "").strip() for field in child if len(field) == 0}
        else:
            segments.append(_segment(child))
    raw = whole_text if whole_text is not None else _serialise(element)
    return ParsedIdoc(control=control, segments=segments, raw_xml=raw)


def _segment(element: Element) -> Segment:
    segment = Segment(element.tag)
    for child in element:
        if child.get("SEGMENT") is not None or len(child):
            segment.children.append(_segment(child))
        else:
            segment.fields[child.tag] = (child.text or "").strip()
    return segment


def _serialise(element: Element) -> str:
    from xml.etree.ElementTree import tostring

    return tostring(element, encoding="unicode")
