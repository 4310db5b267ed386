"""Customer figures marks (syncapp.figures): pages of two pulls marking the same customer at
once do not wait for each other's commit, and the re-plan takes each marked customer once.

Found by the nineteenth session's profile of a peak run: a deliveries page spent 0.86 s of its
2.3 s inserting its marks, waiting on the marks of the orders pull's page not yet committed
(the unique key made each insert wait for the other transaction)."""
from __future__ import annotations

import threading

import pytest
from django.db import transaction

from syncapp.bulksql import execute
from syncapp.figures import _take_marks, figures_mark_dirty
from syncapp.models import FiguresDirty
from tests.factories import ErpConnectionFactory
from tests.syncapp.lock_races import in_transactions_side_by_side

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_pages_marking_the_same_customer_at_once_do_not_wait_for_each_other(postgres_only):
    connection = ErpConnectionFactory()
    first_marked, second_marked = threading.Event(), threading.Event()

    def orders_page():  # commits only once the other page has marked too
        figures_mark_dirty(connection_id=connection.pk, card_codes=["C2", "C1"])
        first_marked.set()
        second_marked.wait(10)

    def deliveries_page():
        first_marked.wait(5)
        execute("SET LOCAL lock_timeout = '3s'")  # waiting for the orders page's commit fails here
        figures_mark_dirty(connection_id=connection.pk, card_codes=["C1"])
        second_marked.set()

    assert in_transactions_side_by_side(orders_page, deliveries_page) == []
    assert sorted(FiguresDirty.objects.values_list("card_code", flat=True)) == ["C1", "C1", "C2"]
    with transaction.atomic():
        assert _take_marks(connection.pk, 1000) == ["C1", "C2"]  # C1 is planned once
    assert not FiguresDirty.objects.exists()
