"""No full email address in a log line, a stored error text or an API answer (security item 4)."""
import io
import logging

import pytest
from rest_framework.test import APIClient

from exceptions.models import SyncException
from exceptions.services import exception_raise
from syncapp.logging import RedactSecretsFilter
from syncapp.models import SyncRun
from tests.factories import FlowFactory
from tests.web.factories import UserFactory

EMAIL = "jane.doe@example.com"


def _log_through_a_redacting_handler(emit) -> str:
    """What a handler like the workers' (formatter + redaction filter) writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactSecretsFilter())
    logger = logging.getLogger("tests.redaction.worker")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return stream.getvalue()


def test_a_worker_traceback_holding_an_email_is_logged_without_the_address():
    def fail(logger):
        try:
            raise ValueError(f"Contact {EMAIL} refused: token=abc123")
        except ValueError:
            logger.exception("Task syncapp.flow_push_task[%s] raised unexpected", "42")

    written = _log_through_a_redacting_handler(fail)
    assert "Traceback" in written and "ValueError" in written  # the traceback is still there
    assert EMAIL not in written and "j***@example.com" in written
    assert "abc123" not in written


def test_a_record_whose_arguments_hold_an_exception_is_logged_without_the_address():
    written = _log_through_a_redacting_handler(
        lambda logger: logger.error("Push failed: %r", RuntimeError(f"bad address {EMAIL}")))
    assert EMAIL not in written and "j***@example.com" in written


def test_redact_text_masks_every_email_and_secret_as_the_log_lines_do():
    from syncapp.logging import redact_text

    text = f"to {EMAIL}, jöhn.smith@exämple.de and GET /v2/contacts/jane.doe%40example.com password=hunter2"
    redacted = redact_text(text)
    assert EMAIL not in redacted and "j***@example.com" in redacted
    assert "jöhn.smith" not in redacted and "j***@exämple.de" in redacted
    assert "jane.doe%40" not in redacted and "hunter2" not in redacted
    assert redact_text("nothing personal") == "nothing personal"


@pytest.mark.django_db
def test_an_exception_raised_with_an_email_in_its_texts_is_stored_masked():
    flow = FlowFactory()
    exception_raise(connection=flow.connection, flow=flow, entity="customers", record_key="C1", stage="push",
                    reason_code="invalid_email", message=f"dotdigital refused {EMAIL}",
                    detail=f"Traceback ...\nValueError: {EMAIL} is not valid",
                    last_response={"message": f"Contact {EMAIL} is suppressed", "errors": [{"email": EMAIL}]},
                    last_request={"email": EMAIL})
    stored = SyncException.objects.get(record_key="C1")
    for text in (stored.message, stored.detail, str(stored.last_response)):
        assert EMAIL not in text and "j***@example.com" in text
    assert stored.last_request == {"email": EMAIL}  # what the hub sent is the record's data, not an error text


@pytest.mark.django_db
def test_the_runs_api_never_returns_a_full_email_even_when_a_run_error_holds_one():
    run = SyncRun.objects.create(flow=FlowFactory(), kind=SyncRun.Kind.PUSH, status=SyncRun.Status.FAILED,
                                 error=f"Traceback ...\nValueError: Contact {EMAIL} refused")
    client = APIClient()
    client.force_authenticate(UserFactory(username="fin", role="Finance"))
    listed = client.get("/api/runs/")
    detail = client.get(f"/api/runs/{run.pk}/")
    assert listed.status_code == 200 and detail.status_code == 200
    assert EMAIL not in listed.content.decode() and EMAIL not in detail.content.decode()
    assert "j***@example.com" in detail.json()["error"]
