"""The dashboard's reason groups count distinct records, which sorts every matching row:
the table is kept for the same filter while its rows are unchanged, and any change to
them shows at the next look."""
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from exceptions.models import SyncException
from exceptions.views_queries import exception_groups
from tests.factories import FlowFactory


def _groups(queryset) -> tuple[list[tuple], int]:
    with CaptureQueriesContext(connection) as captured:
        groups = exception_groups(queryset)
    read = [query for query in captured.captured_queries if "exceptions_syncexception" in query["sql"]]
    return [(g.reason_code, g.exceptions, g.records) for g in groups], len(read)  # the cache's own aside


def test_the_groups_are_counted_once_and_again_when_a_row_changes(db):
    cache.clear()
    flow, other = FlowFactory(entity="orders"), FlowFactory(entity="orders")
    for at in (flow, other):  # one order failing at two destinations: two exceptions, one record
        SyncException.objects.create(connection=at.connection, flow=at, entity="orders", record_key="7",
                                     stage="push", reason_code="invalid_email", message="m")
    active = SyncException.objects.filter(status__in=["open", "retrying"])
    assert _groups(active) == ([("invalid_email", 2, 1)], 2)  # the fingerprint, then the count
    assert _groups(active) == ([("invalid_email", 2, 1)], 1)  # unchanged: the fingerprint only
    exception = SyncException.objects.filter(flow=other).get()
    exception.status = SyncException.Status.IGNORED
    exception.save()
    assert _groups(active) == ([("invalid_email", 1, 1)], 2)  # a change shows at once
