"""The dashboard's filter as every exception page reads it: from the query string, with
the person asking (for "assigned to me"), and back into a query string without paging."""
from __future__ import annotations

from django.http import HttpRequest, QueryDict

from .filters import SyncExceptionFilter
from .models import SyncException

PAGING = ("after", "before")


def filter_query(params: QueryDict, **changes: str) -> str:
    """The current filter as a query string, without paging, with `changes` applied."""
    query = params.copy()
    for name in PAGING:
        query.pop(name, None)
    for name, value in changes.items():
        query[name] = value
    return query.urlencode()


def filtered(request: HttpRequest, params: QueryDict | None = None) -> SyncExceptionFilter:
    # Always bound (even to an empty query) so the default status applies.
    return SyncExceptionFilter(data=request.GET if params is None else params, request=request,
                               queryset=SyncException.objects.all())


def filter_description(filterset: SyncExceptionFilter) -> str:
    """The chosen filters as the person reads them: "Reason: Invalid email address, Age: ..."."""
    parts = []
    for name, field in filterset.form.fields.items():
        value = filterset.form.cleaned_data.get(name)
        if value in (None, ""):
            continue
        shown = dict(getattr(field, "choices", ())).get(value, value)
        parts.append(f"{field.label}: {shown}")
    return ", ".join(parts) or "no filter (every open or retrying exception)"


def filter_errors(filterset: SyncExceptionFilter) -> str:
    return " ".join(error for errors in filterset.form.errors.values() for error in errors)
