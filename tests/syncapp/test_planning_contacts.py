"""Planning contact persons costs the same few statements per page, however many there are."""
import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from syncapp.models import OutboxItem
from syncapp.services import connection_pull
from tests.syncapp.fakes import FakeSource, bp_record

pytestmark = pytest.mark.django_db


def company(n: int, persons: int, updated: str):
    record = bp_record(f"C{n:03}", updated=updated)
    record.data["contact_persons"] = [
        {"code": n * 100 + p, "first_name": f"P{p}", "email": f"p{p}@c{n}.example", "email_normalised":
         f"p{p}@c{n}.example"} for p in range(persons)]
    return record


def test_a_page_of_companies_with_contact_persons_is_pulled_and_planned_without_a_query_per_record(flow):
    def pull(count: int, persons: int, updated: str):
        with CaptureQueriesContext(db) as queries:
            connection_pull(connection=flow.connection,
                            adapter=FakeSource([[company(n, persons, updated) for n in range(count)]]))
        return len(queries.captured_queries)

    pull(1, 1, "2026-11-01T09:00:00+00:00")  # the first pull of a connection sets up its cursor and the like
    small = pull(2, 1, "2026-11-01T10:00:00+00:00")
    large = pull(30, 4, "2026-11-01T11:00:00+00:00")
    assert large == small
    assert OutboxItem.objects.filter(flow=flow).count() == 30 + 30 * 4
    assert OutboxItem.objects.get(flow=flow, record_key="C007#701").payload["CARDCODE"] == "C007"
