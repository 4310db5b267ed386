"""Writing engagement values to Business Partners through the Service Layer, paced.

Up to `batch_size` PATCHes travel in one `$batch` request (each in its own changeset, so
one refused partner undoes no other: erp.sap_b1.batch); a batch size of 1 sends plain
`PATCH /BusinessPartners('C001')`. Every PATCH takes a token from the connection's
bucket (syncapp.ratelimit, shared by every worker), so the rate is SAP's writes, however
they are grouped.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from erp.sap_b1.batch import Answer, Operation
from erp.sap_b1.client import parse_error
from syncapp.adapters import TransportError


@dataclass(frozen=True)
class Refusal:
    """SAP refused one partner's write: a reason code of ours and SAP's own words."""

    reason_code: str
    sap_code: str
    sap_message: str
    answer: Any = None


@dataclass
class WriteResult:
    written: list[str] = field(default_factory=list)
    refused: dict[str, Refusal] = field(default_factory=dict)
    unanswered: list[str] = field(default_factory=list)  # try again next run
    patches: int = 0
    calls: int = 0
    stopped: TransportError | None = None  # SAP could not be reached: the rest waits for the next run


def partner_path(card_code: str) -> str:
    return "BusinessPartners('" + card_code.replace("'", "''") + "')"


def partners_patch(*, client, throttle, changes: dict[str, dict], batch_size: int,
                   on_chunk: Callable[[WriteResult], None] | None = None) -> WriteResult:
    """PATCH each partner's values; per-partner outcome in the result. A transient failure
    of a whole request stops the writing (the rest is retried next run); a permanent one
    refuses the partners it carried."""
    result = WriteResult()
    codes = list(changes)
    size = max(1, batch_size)
    for start in range(0, len(codes), size):
        chunk = codes[start:start + size]
        for _ in chunk:
            throttle.acquire()
        result.patches += len(chunk)
        result.calls += 1
        try:
            answers = _send(client, chunk, changes, batched=size > 1)
        except TransportError as error:
            if not error.permanent:
                result.stopped = error
                result.unanswered += codes[start:]
                return result
            answers = [Answer(error.status or 400, error.response)] * len(chunk)
        for code, answer in zip(chunk, answers, strict=True):
            if answer is None or answer.status >= 500 or answer.status in (408, 429):
                result.unanswered.append(code)
            elif answer.ok:
                result.written.append(code)
            else:
                result.refused[code] = refusal_for(answer)
        if on_chunk:
            on_chunk(result)
    return result


def _send(client, chunk: list[str], changes: dict[str, dict], *, batched: bool) -> list[Answer | None]:
    if batched:
        return client.batch([Operation("PATCH", partner_path(code), changes[code]) for code in chunk])
    client.patch(partner_path(chunk[0]), changes[chunk[0]])
    return [Answer(204)]


def refusal_for(answer: Answer) -> Refusal:
    """Our reason for SAP's answer: a partner gone (404), a user field SAP does not have,
    or a value SAP would not take."""
    code, message = parse_error(answer.body)
    if answer.status == 404:
        reason = "writeback_partner_missing"
    elif "Property 'U_" in message and "is invalid" in message and "Value of" not in message:
        reason = "writeback_field_missing"
    else:
        reason = "writeback_value_refused"
    return Refusal(reason, code, message or f"HTTP {answer.status}", answer.body)
