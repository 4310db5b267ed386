"""The hot path's staging tables (syncapp.bulksql.stage): each use sees only its own rows, in a
transaction and out of one. On PostgreSQL a commit empties them (ON COMMIT DELETE ROWS) where a
TRUNCATE per page cost 3 ms a table; out of a transaction, where every statement commits, the
rows must still be there for the statement that reads them."""
from __future__ import annotations

import pytest
from django.db import transaction

from syncapp.bulksql import fetch, stage
from syncapp.models import OutboxItem

NAMES = ["record_key", "identifier", "payload", "payload_hash"]


def _rows(*keys: str) -> list[tuple]:
    return [(key, f"{key}@example.com", "{}", f"hash-{key}") for key in keys]


def _staged_keys(table: str) -> list[str]:
    return sorted(key for (key,) in fetch(f"SELECT record_key FROM {table}"))


@pytest.mark.django_db
def test_a_second_staging_in_one_transaction_holds_only_its_own_rows():
    with transaction.atomic():
        first = stage("probe", OutboxItem, NAMES, _rows("A1", "A2", "A3"))
        assert _staged_keys(first) == ["A1", "A2", "A3"]
        second = stage("probe", OutboxItem, NAMES, _rows("B1", "B2"))
        assert _staged_keys(second) == ["B1", "B2"]


@pytest.mark.django_db(transaction=True)
def test_staged_rows_outlive_their_statement_outside_a_transaction():
    table = stage("probe", OutboxItem, NAMES, _rows("C1", "C2"))  # autocommit: this statement commits
    assert _staged_keys(table) == ["C1", "C2"]
    table = stage("probe", OutboxItem, NAMES, _rows("D1"))
    assert _staged_keys(table) == ["D1"]


@pytest.mark.django_db(transaction=True)
def test_the_next_transaction_starts_from_an_empty_staging_table():
    with transaction.atomic():
        stage("probe", OutboxItem, NAMES, _rows("E1", "E2"))
    with transaction.atomic():
        table = stage("probe", OutboxItem, NAMES, _rows("F1"))
        assert _staged_keys(table) == ["F1"]
