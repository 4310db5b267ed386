"""A scheduled pull that waited a whole interval for a worker is dropped, not run late:
the next one reads the same changes (issue 12, part 5: under load, pulls piled up in the
queue ahead of the pushes, a hundred deep)."""
import pytest

from syncapp.schedules import schedule_pull
from tests.factories import ErpConnectionFactory

pytestmark = pytest.mark.django_db


def test_a_scheduled_pull_expires_when_the_next_is_due():
    connection = ErpConnectionFactory()
    task = schedule_pull(connection=connection, entity="orders", every_minutes=2)
    assert task.expire_seconds == 120
    assert schedule_pull(connection=connection, entity="orders", every_minutes=5).expire_seconds == 300
