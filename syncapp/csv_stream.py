"""A CSV download streamed row by row, safe to open in a spreadsheet."""
from __future__ import annotations

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse


class _Echo:
    """A file-like object whose write returns the line, so csv.writer yields text."""

    def write(self, value: str) -> str:
        return value


def spreadsheet_safe(value: object) -> str:
    """A text cell a spreadsheet will not run as a formula (the texts come from the ERP,
    the destinations and people)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_download(*, rows: Iterable[list], filename: str) -> StreamingHttpResponse:
    """Stream `rows` (the header first) as a CSV attachment named `filename`."""
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
