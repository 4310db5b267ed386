"""OData query options as the Service Layer reads them: $filter, $orderby, $select.

The $filter subset: eq ne gt ge lt le, and or not, parentheses, startswith / endswith /
contains / substringof, null, numbers and string literals ('..', datetime'..').
Vendor quirks kept on purpose: DateTime properties compare by day only, Time properties
by hour:minute only, and enum properties accept the member name or its DB value.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Container
from typing import Any

from erp.sap_b1.payloads import parse_b1_date, parse_b1_time

Row = dict[str, Any]
Predicate = Callable[[Row], bool]

DATE_PROPERTIES = frozenset({
    "CreateDate", "UpdateDate", "ValidFrom", "ValidTo", "FrozenFrom", "FrozenTo",
    "DocDate", "DocDueDate", "TaxDate", "CreationDate",  # on SAPB1.Document
})
TIME_PROPERTIES = frozenset({"CreateTime", "UpdateTime", "DocTime"})
_YES_NO = {"Y": "tYES", "N": "tNO"}
ENUMS: dict[str, dict[str, str]] = {
    "CardType": {"C": "cCustomer", "S": "cSupplier", "L": "cLid"},
    **{name: _YES_NO for name in (
        "Valid", "Frozen", "InventoryItem", "SalesItem", "PurchaseItem",
        "ManageBatchNumbers", "ManageSerialNumbers", "Inactive", "DropShip", "Nettable",
        "Locked", "Cancelled",
    )},
    "DocumentStatus": {"O": "bost_Open", "C": "bost_Close", "P": "bost_Paid",
                       "D": "bost_Delivered"},
    "CancelStatus": {"Y": "csYes", "N": "csNo", "C": "csCancellation"},
    "DocType": {"I": "dDocument_Items", "S": "dDocument_Service"},
}
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
}
FUNCTIONS = {
    "startswith": lambda text, part: text.startswith(part),
    "endswith": lambda text, part: text.endswith(part),
    "contains": lambda text, part: part in text,
}

_TOKEN = re.compile(
    r"\s*(?:(?P<string>(?:datetime|time)?'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[(),]))"
)


class QueryError(ValueError):
    """Bad query syntax or an unknown property: the Service Layer answers 400."""


class _Literal:
    def __init__(self, value: Any) -> None:
        self.value = value


class _Field:
    def __init__(self, name: str) -> None:
        self.name = name


def parse_filter(text: str, properties: Container[str]) -> Predicate:
    """Compile a $filter expression into a predicate over rows."""
    parser = _Parser(_tokenize(text), properties)
    predicate = parser.expression()
    if parser.peek() is not None:
        raise QueryError(f"Unexpected '{parser.peek()[1]}' in $filter")
    return predicate


def parse_orderby(text: str, properties: Container[str]) -> list[tuple[str, bool]]:
    """'A asc, B desc' -> [("A", False), ("B", True)] (name, descending)."""
    order = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise QueryError(f"Invalid $orderby clause '{part.strip()}'")
        _check_property(words[0], properties)
        order.append((words[0], len(words) == 2 and words[1] == "desc"))
    return order


def sort_rows(rows: list[Row], order: list[tuple[str, bool]]) -> list[Row]:
    """Stable multi-key sort; missing values sort first ascending, as SQL NULLs do."""
    rows = list(rows)
    for name, descending in reversed(order):
        rows.sort(key=lambda row: _sort_key(row.get(name)), reverse=descending)
    return rows


def parse_select(text: str, properties: Container[str]) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        _check_property(name, properties)
    return names


# ------------------------------------------------------------------ internals


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    return (1, value if isinstance(value, int | float) else str(value))


def _check_property(name: str, properties: Container[str]) -> None:
    if name not in properties:
        raise QueryError(f"Property '{name}' is invalid")


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise QueryError(f"Invalid $filter syntax near '{text[position:position + 20]}'")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], properties: Container[str]) -> None:
        self.tokens = tokens
        self.position = 0
        self.properties = properties

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise QueryError(f"Invalid $filter syntax: expected '{value or 'more'}'")
        self.position += 1
        return token

    def expression(self) -> Predicate:
        left = self.conjunction()
        while self.peek() == ("name", "or"):
            self.take()
            right = self.conjunction()
            left = _either(left, right)
        return left

    def conjunction(self) -> Predicate:
        left = self.unary()
        while self.peek() == ("name", "and"):
            self.take()
            right = self.unary()
            left = _both(left, right)
        return left

    def unary(self) -> Predicate:
        if self.peek() == ("name", "not"):
            self.take()
            inner = self.unary()
            return lambda row: not inner(row)
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.expression()
            self.take(")")
            return inner
        token = self.peek()
        if token and token[0] == "name" and token[1] in (*FUNCTIONS, "substringof"):
            return self.function()
        return self.comparison()

    def function(self) -> Predicate:
        name = self.take()[1]
        self.take("(")
        first = self.operand()
        self.take(",")
        second = self.operand()
        self.take(")")
        if name == "substringof":  # OData v3 argument order: substringof('part', Field)
            first, second, name = second, first, "contains"
        if not isinstance(first, _Field) or not isinstance(second, _Literal):
            raise QueryError(f"Invalid arguments to {name}()")
        test, field, part = FUNCTIONS[name], first.name, str(second.value)
        return lambda row: row.get(field) is not None and test(str(row[field]), part)

    def comparison(self) -> Predicate:
        left = self.operand()
        token = self.peek()
        if token is None or token[1] not in COMPARISONS:
            raise QueryError("Invalid $filter syntax: expected a comparison (eq, ne, gt, ...)")
        name = self.take()[1]
        right = self.operand()
        if isinstance(left, _Literal) and isinstance(right, _Field):
            left, right, name = right, left, _MIRROR[name]
        if not isinstance(left, _Field) or not isinstance(right, _Literal):
            raise QueryError("Invalid $filter syntax: compare a property with a value")
        operator, field = COMPARISONS[name], left.name
        if right.value is None:
            if name not in ("eq", "ne"):
                raise QueryError("Only eq and ne can compare with null")
            return lambda row: (row.get(field) is None) == (name == "eq")
        expected = _coerce(field, right.value, literal=True)

        def predicate(row: Row) -> bool:
            actual = _coerce(field, row.get(field), literal=False)
            if actual is None:
                return operator is COMPARISONS["ne"]
            try:
                return operator(actual, expected)
            except TypeError:
                return False

        return predicate

    def operand(self) -> _Field | _Literal:
        kind, value = self.take()
        if kind == "string":
            body = value[value.index("'") + 1 : -1]
            return _Literal(body.replace("''", "'"))
        if kind == "number":
            return _Literal(float(value) if "." in value else int(value))
        if kind == "name":
            if value == "null":
                return _Literal(None)
            if value in ("true", "false"):
                return _Literal(value == "true")
            _check_property(value, self.properties)
            return _Field(value)
        raise QueryError(f"Invalid $filter syntax near '{value}'")


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda row: a(row) or b(row)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda row: a(row) and b(row)


_MIRROR = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}


def _coerce(field: str, value: Any, *, literal: bool) -> Any:
    """The comparable form of a stored value or a filter literal for `field`."""
    if value is None:
        return None
    if field in DATE_PROPERTIES:
        day = parse_b1_date(value)
        if day is None and literal:
            raise QueryError(f"Invalid date '{value}' for property '{field}'")
        return day
    if field in TIME_PROPERTIES:
        moment = parse_b1_time(value)
        if not moment:
            if literal:
                raise QueryError(f"Invalid time '{value}' for property '{field}'")
            return None
        return moment.hour * 60 + moment.minute  # seconds are ignored, as in SAP
    if field in ENUMS:
        return ENUMS[field].get(value, value)
    return value
