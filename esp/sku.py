"""SKU rules: one normalisation of product identifiers, applied wherever they cross."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SkuPolicy:
    """A SkuRule as a plain value (defaults when a connection has none)."""

    trim: bool = True
    strip_leading_zeros: bool = True
    case: str = "upper"
    prefix_map: dict = field(default_factory=dict)
    suffix_map: dict = field(default_factory=dict)

    @classmethod
    def for_connection(cls, connection) -> SkuPolicy:
        from .models import SkuRule

        rule = SkuRule.objects.filter(connection=connection).first()
        if rule is None:
            return cls()
        return cls(rule.trim, rule.strip_leading_zeros, rule.case, dict(rule.prefix_map or {}),
                   dict(rule.suffix_map or {}))


def sku_normalise(code: str | None, policy: SkuPolicy) -> str:
    """'  000012345 ' -> '12345'; 'a-100' -> 'A-100' (upper case); '' stays ''."""
    value = code or ""
    if policy.trim:
        value = value.strip()
    for prefix, replacement in policy.prefix_map.items():
        if prefix and value.startswith(prefix):
            value = replacement + value[len(prefix):]
            break
    for suffix, replacement in policy.suffix_map.items():
        if suffix and value.endswith(suffix):
            value = value[: -len(suffix)] + replacement
            break
    if policy.strip_leading_zeros and value.isdigit():
        value = value.lstrip("0") or "0"
    if policy.case == "upper":
        value = value.upper()
    elif policy.case == "lower":
        value = value.lower()
    return value
