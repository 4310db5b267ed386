"""OData v3 `$batch` bodies for the Service Layer: writes, one changeset each, and the answers.

Contract (erp-interfaces.md 1.4, [SLGuide §3.10]): `$batch` takes multipart/mixed and each
changeset is atomic. Every write goes in a changeset of its own, so one record SAP refuses
does not undo the others. Whether the Service Layer carries on after a failed changeset
is not documented: an operation without an answer part is reported as unanswered (None),
and the caller tries it again later, so either behaviour is safe.

The client builds requests and reads answers; the sandbox reads requests and builds
answers, both with this module, so the two cannot disagree about the layout.
"""
from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CRLF = "\r\n"
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_STATUS_LINE = re.compile(r"^HTTP/1\.[01] (\d{3})")
_REQUEST_LINE = re.compile(r"^([A-Z]+) (\S+)(?: HTTP/1\.[01])?$")


@dataclass(frozen=True)
class Operation:
    """One request inside a batch; `path` is relative to the Service Layer root."""

    method: str
    path: str
    body: Any = None


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class BatchUnreadable(ValueError):
    """A body that is not the multipart layout OData's $batch uses."""


# ------------------------------------------------------------------ client side


def batch_request(operations: Sequence[Operation], *, root: str) -> tuple[str, bytes]:
    """(Content-Type, body) of a batch with each operation in its own changeset."""
    boundary = f"batch_{uuid.uuid4().hex}"
    lines: list[str] = []
    for operation in operations:
        changeset = f"changeset_{uuid.uuid4().hex}"
        lines += [f"--{boundary}", f"Content-Type: multipart/mixed;boundary={changeset}", "",
                  f"--{changeset}", "Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
                  f"{operation.method} {root}/{operation.path} HTTP/1.1", "Content-Type: application/json", "",
                  json.dumps(operation.body), f"--{changeset}--"]
    lines.append(f"--{boundary}--")
    return f"multipart/mixed;boundary={boundary}", CRLF.join(lines).encode()


def batch_answers(content_type: str, body: bytes, count: int) -> list[Answer | None]:
    """One answer per operation sent (in order); None for an operation SAP did not answer.

    A changeset that failed is answered by one application/http part (OData v3), which is
    the answer of every operation in it (here always one)."""
    answers: list[Answer | None] = []
    for headers, text in _parts(content_type, body):
        if "multipart/mixed" in headers.get("content-type", ""):
            answers += [_response(inner) for _, inner in _parts(headers["content-type"], text.encode())]
        else:
            answers.append(_response(text))
    return (answers + [None] * count)[:count]


# ------------------------------------------------------------------ server side (the sandbox)


def batch_operations(content_type: str, body: bytes) -> list[list[Operation]]:
    """The changesets of a batch request, each a list of operations (a request outside
    any changeset is a changeset of one)."""
    changesets = []
    for headers, text in _parts(content_type, body):
        if "multipart/mixed" in headers.get("content-type", ""):
            changesets.append([_request(inner) for _, inner in _parts(headers["content-type"], text.encode())])
        else:
            changesets.append([_request(text)])
    return changesets


def batch_response(changesets: Sequence[Sequence[Answer] | Answer]) -> tuple[str, bytes]:
    """(Content-Type, body): a list of answers for a changeset that went through, or one
    Answer for a changeset that failed as a whole."""
    boundary = f"batchresponse_{uuid.uuid4().hex}"
    lines: list[str] = []
    for answers in changesets:
        lines.append(f"--{boundary}")
        if isinstance(answers, Answer):
            lines += ["Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
                      *_response_lines(answers)]
            continue
        changeset = f"changesetresponse_{uuid.uuid4().hex}"
        lines += [f"Content-Type: multipart/mixed;boundary={changeset}", ""]
        for answer in answers:
            lines += [f"--{changeset}", "Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
                      *_response_lines(answer)]
        lines.append(f"--{changeset}--")
    lines.append(f"--{boundary}--")
    return f"multipart/mixed;boundary={boundary}", CRLF.join(lines).encode()


# ------------------------------------------------------------------ internals


def _response_lines(answer: Answer) -> list[str]:
    if answer.body is None:
        return [f"HTTP/1.1 {answer.status} {'No Content' if answer.status == 204 else 'OK'}", ""]
    return [f"HTTP/1.1 {answer.status} {'OK' if answer.ok else 'Error'}",
            "Content-Type: application/json;odata=minimalmetadata;charset=utf-8", "", json.dumps(answer.body)]


def _parts(content_type: str, body: bytes) -> list[tuple[dict[str, str], str]]:
    """(headers, rest) of each part between the content type's boundaries."""
    match = _BOUNDARY.search(content_type or "")
    if not match:
        raise BatchUnreadable("The batch has no multipart boundary.")
    text = body.decode("utf-8").replace("\r\n", "\n")
    chunks = text.split(f"--{match.group(1)}")
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith("--"):
            break
        parts.append(_headers_and_rest(chunk.strip("\n")))
    return parts


def _headers_and_rest(text: str) -> tuple[dict[str, str], str]:
    head, _, rest = text.partition("\n\n")
    headers = {}
    for line in head.splitlines():
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers, rest


def _request(http_text: str) -> Operation:
    match, body = _http_message(http_text, _REQUEST_LINE, "request")
    try:
        parsed = json.loads(body) if body.strip() else None
    except ValueError:
        raise BatchUnreadable("A batch part's body is not valid JSON.") from None
    return Operation(match.group(1), match.group(2), parsed)


def _response(http_text: str) -> Answer:
    match, body = _http_message(http_text, _STATUS_LINE, "response")
    try:
        parsed = json.loads(body) if body.strip() else None
    except ValueError:
        parsed = body.strip()[:2000]
    return Answer(int(match.group(1)), parsed)


def _http_message(http_text: str, first_line: re.Pattern, what: str) -> tuple[re.Match, str]:
    """The first line's match and the body of an HTTP message carried in a part."""
    line, _, rest = http_text.partition("\n")
    match = first_line.match(line.strip())
    if not match:
        raise BatchUnreadable(f"A batch part is not an HTTP {what}: {line[:80]!r}")
    return match, _headers_and_rest(rest)[1]
