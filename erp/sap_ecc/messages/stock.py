"""Stock IDocs -> stock changes per material and warehouse (plant[-storage location]).

Three sources (contract 2.9):
- WMMBXY (WMMBID01/02) goods movements: each E1MBXYI is a *delta* of unrestricted-use
  stock at WERKS[-LGORT]. Quantity MENGE (base unit, as LABST is) else ERFMG (entry
  unit). Direction by SHKZG when sent (S debit = into stock, H credit = out of it), else
  by the movement type (BWART) in the table below. A movement type the table does not
  know is refused rather than guessed: a wrong delta would stay wrong.
- LOISTD01: each E1MDSTL is an *absolute* level, LABST (unrestricted) of MATNR at
  WERKS[-LGORT when sent].
- MATMAS05 (the "MATMAS-driven stock snapshot"): E1MARAM > E1MARCM (plant) > E1MARDM
  (storage location) with LABST, an *absolute* level. Standard E1MARDM has no LABST (a
  customer extension adds it); an E1MARDM without it gives nothing.

The stock figure kept is unrestricted-use stock, what can be sold: movements between
quality inspection or blocked stock and the warehouse floor change it, receipts into
quality inspection (INSMK X/2) or blocked stock (INSMK 3) and into GR-blocked or returns-
blocked stock do not. Transfers 301/311 (one step) move the quantity from WERKS/LGORT to
UMWRK/UMLGO (two changes); 302/312 reverse them.

Movement types (SAP standard, their effect on unrestricted-use stock at the item's place):
  in  (+): 101 105 162 202 222 232 242 252 262 292 321 343 453 501 511 521 531 552 556 561
           602 642 644 653 701 712
  out (-): 102 106 122 161 201 221 231 241 251 261 291 322 344 454 502 512 522 532 551 555
           562 601 641 643 654 702 711
  none   : 103 104 124 451 452 651 652 655 656 657 658
"""
from __future__ import annotations

from dataclasses import dataclass

from erp.sap_ecc.idoc_xml import ParsedIdoc, Segment
from erp.sap_ecc.messages.common import (
    GOODS_MOVEMENT,
    MATERIAL,
    STOCK_LIST,
    Reader,
    Unreadable,
    descendants,
    first_descendant,
    idoc_label,
    material_of,
    message_kind,
    unpadded,
    warehouse_code,
)

RECEIPTS = frozenset("101 105 162 202 222 232 242 252 262 292 321 343 453 501 511 521 531 552 556 561 "
                     "602 642 644 653 701 712".split())
ISSUES = frozenset("102 106 122 161 201 221 231 241 251 261 291 322 344 454 502 512 522 532 551 555 "
                   "562 601 641 643 654 702 711".split())
NO_EFFECT = frozenset("103 104 124 451 452 651 652 655 656 657 658".split())
TRANSFERS = {"301": 1, "311": 1, "302": -1, "312": -1}  # +1: from WERKS/LGORT to UMWRK/UMLGO
UNRESTRICTED_RECEIPTS = frozenset({"101", "501", "511", "521", "531", "561"})  # INSMK decides where these go
NOT_UNRESTRICTED = frozenset({"X", "2", "3"})  # INSMK: quality inspection, blocked


@dataclass(frozen=True)
class StockChange:
    """absolute=True: `quantity` is the level now; False: it is added to the level."""

    item_code: str
    warehouse_code: str
    quantity: float
    absolute: bool


class StockUnreadable(Exception):
    """A stock IDoc we cannot apply; `message` names the IDoc, material and field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def stock_changes(idoc: ParsedIdoc) -> list[StockChange]:
    """Every stock change an IDoc carries, in document order. Raises StockUnreadable."""
    kind = message_kind(idoc)
    try:
        if kind == GOODS_MOVEMENT:
            return [change for row in descendants(idoc, "E1MBXYI") for change in _movement(idoc, row)]
        if kind == STOCK_LIST:
            return [_level(idoc, row, material_of(row), row.get("LGORT"), "E1MDSTL")
                    for row in descendants(idoc, "E1MDSTL")]
        if kind == MATERIAL:
            return _snapshot(idoc)
    except Unreadable as exc:
        raise StockUnreadable(str(exc)) from None
    raise StockUnreadable(f"{idoc_label(idoc.control)} carries no stock (basic type {idoc.basic_type or 'not given'}"
                          "); only WMMBXY, LOISTD and MATMAS are read as stock.")


def stock_warehouses(idoc: ParsedIdoc) -> list[str]:
    """The warehouses an IDoc's stock names, in first-seen order; never raises (a row
    without a plant is left out: `stock_changes` reports it)."""
    kind = message_kind(idoc)
    found: list[str] = []
    places: list[tuple[str, str]] = []
    if kind == GOODS_MOVEMENT:
        for row in descendants(idoc, "E1MBXYI"):
            places.append((row.get("WERKS"), row.get("LGORT")))
            if row.get("BWART").strip() in TRANSFERS:
                places.append((row.get("UMWRK") or row.get("WERKS"), row.get("UMLGO")))
    elif kind == STOCK_LIST:
        places = [(row.get("WERKS"), row.get("LGORT")) for row in descendants(idoc, "E1MDSTL")]
    elif kind == MATERIAL:
        places = [(plant.get("WERKS"), place.get("LGORT")) for plant in descendants(idoc, "E1MARCM")
                  for place in descendants(plant, "E1MARDM") if "LABST" in place.fields]
    for werks, lgort in places:
        code = warehouse_code(werks, lgort)
        if (werks or "").strip() and code not in found:
            found.append(code)
    return found


def _movement(idoc: ParsedIdoc, row: Segment) -> list[StockChange]:
    material = material_of(row)
    reader = _reader(idoc, material, "E1MBXYI")
    movement = row.get("BWART").strip()
    field = "E1MBXYI MENGE" if row.get("MENGE").strip() else "E1MBXYI ERFMG"
    quantity = reader.number(row.get("MENGE") or row.get("ERFMG"), "quantity", field)
    here = _place(reader, row.get("WERKS"), row.get("LGORT"), "E1MBXYI")
    if movement in TRANSFERS:
        there = _place(reader, row.get("UMWRK") or row.get("WERKS"), row.get("UMLGO"), "E1MBXYI")
        moved = quantity * TRANSFERS[movement]
        return [StockChange(material, here, -moved, False), StockChange(material, there, moved, False)]
    debit_credit = row.get("SHKZG").strip()
    if debit_credit in ("S", "H"):
        sign = 1 if debit_credit == "S" else -1
    elif movement in RECEIPTS:
        sign = 1
    elif movement in ISSUES:
        sign = -1
    elif movement in NO_EFFECT:
        return []
    else:
        raise reader.fail(f"has a movement type (E1MBXYI BWART) the hub does not know how to apply: "
                          f"{movement or '(none)'!r}. Ask the integration team to add it to the movement table.")
    if movement in UNRESTRICTED_RECEIPTS and row.get("INSMK").strip() in NOT_UNRESTRICTED:
        return []  # into quality inspection or blocked stock: nothing more to sell
    return [StockChange(material, here, round(sign * quantity, 6), False)]


def _level(idoc: ParsedIdoc, row: Segment, material: str, lgort: str, segment: str,
           werks: str | None = None) -> StockChange:
    reader = _reader(idoc, material, segment)
    place = _place(reader, row.get("WERKS") if werks is None else werks, lgort, segment)
    return StockChange(material, place, reader.number(row.get("LABST"), "unrestricted stock", f"{segment} LABST"),
                       True)


def _snapshot(idoc: ParsedIdoc) -> list[StockChange]:
    header = first_descendant(idoc, "E1MARAM")
    material = material_of(header)
    changes = []
    for plant in descendants(idoc, "E1MARCM"):
        for place in descendants(plant, "E1MARDM"):
            if "LABST" in place.fields:
                changes.append(_level(idoc, place, material, place.get("LGORT"), "E1MARDM", plant.get("WERKS")))
    return changes


def _reader(idoc: ParsedIdoc, material: str, segment: str) -> Reader:
    reader = Reader(idoc, f"material {unpadded(material)}" if material else "a stock row")
    if not material:
        raise reader.fail(f"has no material number ({segment} MATNR), so the stock cannot be placed. "
                          "Check the IDoc in SAP (WE02).")
    return reader


def _place(reader: Reader, werks: str, lgort: str, segment: str) -> str:
    if not (werks or "").strip():
        raise reader.fail(f"has stock without a plant ({segment} WERKS), so it cannot be placed in a warehouse. "
                          "Check the IDoc in SAP (WE02).")
    return warehouse_code(werks, lgort)
