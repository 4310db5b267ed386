"""`$batch` in the sandbox: each changeset's operations through the sandbox's own routes.

`BatchHooks` is mixed into `SapB1Sandbox`; it relies on its `_route`, `_lock` and
`request_log`. Layout: erp.sap_b1.batch (shared with the client). The answer is 202 with
a multipart body, as OData v3 answers a batch.
"""
from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import parse_qsl

from erp.sap_b1 import batch
from erp.sap_b1.sandbox.errors import SandboxError, envelope

ROOT = "/b1s/v1"
Environ = dict[str, Any]


class BatchHooks:
    """POST /$batch."""

    def _batch(self, environ: Environ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Each changeset's operations through the ordinary routes, in order. A refused
        operation answers for its whole changeset; the sandbox does not undo the earlier
        operations of that changeset (the hub sends one operation per changeset)."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            changesets = batch.batch_operations(environ.get("CONTENT_TYPE", ""), raw)
        except (batch.BatchUnreadable, UnicodeDecodeError) as error:
            raise SandboxError(400, -1000, f"The batch request cannot be read: {error}") from None
        answered: list[list[batch.Answer] | batch.Answer] = []
        for operations in changesets:
            answers: list[batch.Answer] = []
            try:
                for operation in operations:
                    answers.append(self._batch_operation(operation, environ))
            except SandboxError as error:
                answered.append(batch.Answer(error.status, envelope(error.code, error.message)))
                continue
            answered.append(answers)
        content_type, body = batch.batch_response(answered)
        return 202, [("Content-Type", content_type)], body

    def _batch_operation(self, operation: batch.Operation, environ: Environ) -> batch.Answer:
        path, _, query_string = operation.path.partition("?")
        if not path.startswith(ROOT) or path[len(ROOT):] in ("/$batch", "/Login", "/Logout"):
            raise SandboxError(400, -1000, f"'{path}' cannot be part of a batch")
        payload = b"" if operation.body is None else json.dumps(operation.body).encode()
        inner = {"REQUEST_METHOD": operation.method, "PATH_INFO": path, "QUERY_STRING": query_string,
                 "HTTP_COOKIE": environ.get("HTTP_COOKIE", ""), "CONTENT_LENGTH": str(len(payload)),
                 "wsgi.input": io.BytesIO(payload)}
        with self._lock:
            self.request_log.append((operation.method, path, {"$batch": "1"}))
        status, _, body = self._route(operation.method, path[len(ROOT):],
                                      dict(parse_qsl(query_string, keep_blank_values=True)), inner)
        return batch.Answer(status, body)
