"""Bulk retry: a misspelt filter acts on nothing, the page confirms the count first, and
a retry with the task queue down never leaves exceptions "retrying" with no task behind them."""
import time

import pytest
from kombu.exceptions import OperationalError
from rest_framework.test import APIClient

from exceptions.models import SyncException
from exceptions.services import QUEUE_UNAVAILABLE
from tests.factories import FlowFactory
from tests.web.conftest import ROLE_USERS
from tests.web.factories import SyncExceptionFactory, UserFactory

RETRY_ALL = "/exceptions/retry-matching/"
API_RETRY_ALL = "/api/exceptions/retry-matching/"


def _api(role: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(username=role, role=ROLE_USERS[role]))
    return client


def _statuses() -> dict[str, int]:
    return {status: SyncException.objects.filter(status=status).count() for status in ("open", "retrying")}


@pytest.fixture
def broker_down():
    """The Celery broker unreachable (nothing listens on port 1), as with Redis stopped."""
    from syncapp.celery import REDIS_BROKER_TIMEOUTS, app

    saved = app.conf.broker_url, app.conf.broker_transport_options

    def use(url: str, options: dict) -> None:
        app.conf.broker_url, app.conf.broker_transport_options = url, options
        # The connection pools were made for the old URL.
        app._pool = None
        app.amqp._producer_pool = None

    use("redis://127.0.0.1:1/0", dict(REDIS_BROKER_TIMEOUTS))
    yield
    use(*saved)


# -- unknown filters -----------------------------------------------------------------

@pytest.mark.django_db
def test_the_api_refuses_a_bulk_retry_with_a_misspelt_filter_and_retries_nothing():
    SyncExceptionFactory.create_batch(3, reason_code="invalid_email")
    response = _api("marketing").post(f"{API_RETRY_ALL}?rason=typo")
    assert response.status_code == 400
    assert "rason" in response.json() and "Unknown filter" in response.json()["rason"][0]
    assert _statuses() == {"open": 3, "retrying": 0}


@pytest.mark.django_db
def test_the_api_lists_refuse_unknown_filters_but_accept_paging(problems):
    client = _api("marketing")
    assert client.get("/api/exceptions/?rason=typo").status_code == 400
    assert client.get("/api/exceptions/groups/?rason=typo").status_code == 400
    assert client.get("/api/conflicts/?stauts=open").status_code == 400
    assert client.get("/api/exceptions/?reason=invalid_email&page_size=10").status_code == 200
    assert client.get("/api/conflicts/?status=all").status_code == 200


@pytest.mark.django_db
def test_the_pages_retry_all_with_a_misspelt_filter_shows_an_error_and_retries_nothing(as_role):
    SyncExceptionFactory.create_batch(3, reason_code="invalid_email")
    client = as_role("marketing")
    for response in (client.get(f"{RETRY_ALL}?rason=typo", follow=True),
                     client.post(f"{RETRY_ALL}?rason=typo", {"expected": 3}, follow=True)):
        page = response.content.decode()
        assert response.status_code == 200
        assert "nothing was retried" in page and "Unknown filter" in page and "rason" in page
    assert _statuses() == {"open": 3, "retrying": 0}


@pytest.mark.django_db
def test_the_dashboard_with_a_misspelt_filter_says_so_and_offers_no_bulk_retry(as_role):
    SyncExceptionFactory(reason_code="invalid_email")
    page = as_role("marketing").get("/exceptions/?rason=typo").content.decode()
    assert "Unknown filter" in page
    assert "Retry all matching" not in page


# -- the confirm step ------------------------------------------------------------------

@pytest.mark.django_db
def test_the_page_asks_for_confirmation_with_the_count_before_acting(as_role, problems, erp_fixed):
    client = as_role("marketing")
    response = client.get(f"{RETRY_ALL}?reason=invalid_email")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Retry <strong>1</strong> exception matching Reason: Invalid email address?" in page
    assert 'name="expected" value="1"' in page
    assert _statuses()["retrying"] == 0  # asking acts on nothing
    # A POST without the confirmed count (an old form, a script) is asked again, not acted on.
    assert "Confirm: retry 1 exception" in client.post(f"{RETRY_ALL}?reason=invalid_email").content.decode()
    assert _statuses()["retrying"] == 0
    confirmed = client.post(f"{RETRY_ALL}?reason=invalid_email", {"expected": 1}, follow=True)
    assert "Retried 1 exception(s)" in confirmed.content.decode()
    assert SyncException.objects.get(record_key="C002").status == "retrying"
    assert SyncException.objects.get(record_key="C001").status == "open"  # not in the filter


@pytest.mark.django_db
def test_a_count_that_changed_a_lot_since_it_was_shown_is_asked_again(as_role, monkeypatch):
    flow = FlowFactory()
    SyncExceptionFactory.create_batch(40, flow=flow, reason_code="invalid_email")
    monkeypatch.setattr("syncapp.tasks.records_retry_task.delay", lambda *args: None)
    client = as_role("marketing")
    response = client.post(f"{RETRY_ALL}?reason=invalid_email", {"expected": 3})
    page = response.content.decode()
    assert response.status_code == 200
    assert "changed from 3 to 40" in page and 'name="expected" value="40"' in page
    assert _statuses() == {"open": 40, "retrying": 0}


# -- the task queue down -----------------------------------------------------------------

def test_enqueueing_with_the_broker_down_fails_within_seconds(broker_down):
    from syncapp.tasks import records_retry_task

    started = time.monotonic()
    with pytest.raises(OperationalError):
        records_retry_task.delay(1, None, "customers", ["C1"])
    assert time.monotonic() - started < 5


def test_a_redis_broker_gets_finite_connect_and_publish_timeouts():
    from celery import Celery

    from syncapp.celery import bound_broker_waits

    app = Celery("probe", set_as_current=False)
    app.conf.broker_url = "redis://redis.example:6379/0"
    bound_broker_waits(sender=app)
    options = app.conf.broker_transport_options
    assert 0 < options["socket_connect_timeout"] <= 2 and 0 < options["socket_timeout"] <= 5
    policy = app.conf.task_publish_retry_policy
    assert policy["max_retries"] <= 1 and policy["interval_max"] <= 1


@pytest.mark.django_db(transaction=True)
def test_a_bulk_retry_with_the_task_queue_down_says_so_and_leaves_nothing_retrying(as_role, broker_down):
    flow = FlowFactory()
    SyncExceptionFactory.create_batch(30, flow=flow, reason_code="invalid_email")
    response = as_role("marketing").post(f"{RETRY_ALL}?reason=invalid_email", {"expected": 30}, follow=True)
    page = response.content.decode()
    assert response.status_code == 200
    assert "task queue is unavailable" in page and "nothing was retried" in page
    assert _statuses() == {"open": 30, "retrying": 0}
    assert set(SyncException.objects.values_list("note", flat=True)) == {QUEUE_UNAVAILABLE}


@pytest.mark.django_db(transaction=True)
def test_the_api_answers_503_when_the_task_queue_is_down_and_nothing_stays_retrying(broker_down):
    SyncExceptionFactory.create_batch(25, flow=FlowFactory(), reason_code="invalid_email")
    response = _api("marketing").post(f"{API_RETRY_ALL}?reason=invalid_email")
    assert response.status_code == 503
    assert response.json()["detail"] == QUEUE_UNAVAILABLE and response.json()["unqueued"] == 25
    assert _statuses() == {"open": 25, "retrying": 0}


@pytest.mark.django_db(transaction=True)
def test_a_single_retry_with_the_task_queue_down_is_not_a_500(as_role, problems, erp_fixed, broker_down):
    # One record is retried in the request; its outbox row is the queue of record, so the
    # sweep sends it once the broker is back: "retrying" is true here.
    exception = SyncException.objects.get(record_key="C001")
    response = as_role("marketing").post(f"/exceptions/{exception.pk}/retry/", follow=True)
    assert response.status_code == 200 and "queued to be sent" in response.content.decode()
    exception.refresh_from_db()
    assert exception.status == "retrying"
