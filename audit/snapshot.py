"""An audited object as JSON: every concrete field, secrets hidden, noise left out."""
from __future__ import annotations

import json
import re
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

HIDDEN = "(hidden)"
# A field or JSON key holding a secret value. "password_env" names a variable and is fine.
_SECRET = re.compile(r"(password|passwd|secret|token|api_?key|private_?key|credential)", re.IGNORECASE)


class _Encoder(DjangoJSONEncoder):
    """Anything else (a time zone, a path) is kept as its text."""

    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET.search(name)) and not name.lower().endswith("_env")


def _redact(value: Any) -> Any:
    """Hide secret values inside JSON fields too (an `options` dict with an api_key)."""
    if isinstance(value, dict):
        return {key: (HIDDEN if is_secret_name(str(key)) and value_ else _redact(value_))
                for key, value_ in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    return value


def _skipped(field, ignored: frozenset[str]) -> bool:
    return field.name in ignored or getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)


def snapshot(instance, *, ignored: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Field name -> JSON-ready value; a foreign key is its id, under the field's name."""
    data: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if field.primary_key or _skipped(field, ignored):
            continue
        value = getattr(instance, field.attname)
        if is_secret_name(field.name):
            value = HIDDEN if value not in (None, "") else value
        data[field.name] = _redact(value)
    # Through JSON once, so dates, decimals and UUIDs compare as they will be stored.
    return json.loads(json.dumps(data, cls=_Encoder))


def changed_fields(before: dict | None, after: dict | None) -> list[str]:
    before, after = before or {}, after or {}
    return [name for name in {**before, **after} if before.get(name) != after.get(name)]
