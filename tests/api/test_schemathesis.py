"""The API against its own OpenAPI schema, with each role's token (schemathesis 4).

Every operation of /api/schema/ is called in-process (WSGI, inside the test's database
transaction) with generated requests: no answer may be a 5xx, and every answer a role may
get must conform to the schema (status, content type, body). A role without the
operation's capability must get 403, nothing else. Examples are few, derandomized and
without deadline, so the module is stable and stays under about a minute.
"""
from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import Resolver404, resolve
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from syncapp.roles import user_can
from syncapp.services import connection_pull
from syncapp.wsgi import application
from tests.api.conftest import ROLES, api_token_for
from tests.syncapp.fakes import FakeSource, bp_record
from tests.web.factories import UserFactory

# What each operation needs; a new operation must be added here (the test says so).
CAPABILITY = {
    "GET /api/runs/": "view_health",
    "GET /api/runs/{id}/": "view_health",
    "GET /api/runs/{id}/outcomes/": "view_health",
    "GET /api/health/": "view_health",
    "GET /api/exceptions/": "view_exceptions",
    "GET /api/exceptions/{id}/": "view_exceptions",
    "GET /api/exceptions/groups/": "view_exceptions",
    "POST /api/exceptions/{id}/retry/": "act_on_exceptions",
    "POST /api/exceptions/{id}/ignore/": "act_on_exceptions",
    # Finance may assign and add notes on the exceptions its team owns: a 403 on the others.
    "POST /api/exceptions/{id}/assign/": "view_exceptions",
    "POST /api/exceptions/{id}/notes/": "view_exceptions",
    "POST /api/exceptions/retry-matching/": "act_on_exceptions",
    "GET /api/conflicts/": "view_conflicts",
    "GET /api/conflicts/{id}/": "view_conflicts",
    "POST /api/conflicts/{id}/resolve/": "resolve_conflicts",
    "POST /api/provisional-orders/": "post_provisional_orders",
    "GET /api/reports/reconciliation/": "view_reports",
    "GET /api/reports/reconciliation/differences/": "view_reports",
    "POST /api/reports/reconciliation/resend/": "resend_differences",
    "GET /api/reports/erp-summary/": "view_reports",
    "GET /api/campaigns/report/": "view_reports",
    "GET /api/campaigns/attributed-orders/": "view_reports",
    "GET /api/campaigns/imports/": "view_reports",
    "GET /api/campaigns/settings/": "view_reports",
}


def _schema() -> schemathesis.schemas.BaseSchema:
    """The document /api/schema/ serves (test_the_tested_schema_is_the_one_served proves it is)."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    config = SchemathesisConfig.from_dict({
        "generation": {"max-examples": 6, "deterministic": True},
        # Examples and fuzzing only: the coverage phase adds ~30 s and found nothing more here.
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    })
    loaded = schemathesis.openapi.from_dict(document, config=config)
    loaded.app = application
    return loaded


schema = _schema()


@pytest.fixture
def in_process_wsgi():
    """Requests go through the WSGI app inside the test's transaction: as Django's test
    client does, keep the request signals from closing the test's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def dataset(flow, monkeypatch):
    """A small hub after one pull: exceptions (no email, bad email), a duplicate-email
    conflict, a run; a retry re-reads from a fake ERP, never the network."""
    connection_pull(connection=flow.connection, adapter=FakeSource([[
        bp_record("C001", email=""), bp_record("C002", email="jane@"),
        bp_record("C003", email="dup@example.com", updated="2026-11-01T10:00:00+00:00"),
        bp_record("C004", email="DUP@example.com", updated="2026-11-02T10:00:00+00:00"),
    ]]))
    fixed = FakeSource([[bp_record("C001", email="c001@example.com"), bp_record("C002", email="jane@example.com")]])
    monkeypatch.setattr("syncapp.services.source_adapter_for", lambda connection: fixed)
    return flow


def _existing_ids() -> dict[str, int]:
    from exceptions.models import DuplicateEmailConflict, SyncException
    from syncapp.models import SyncRun

    return {"runs": SyncRun.objects.values_list("pk", flat=True).first(),
            "exceptions": SyncException.objects.values_list("pk", flat=True).first(),
            "conflicts": DuplicateEmailConflict.objects.values_list("pk", flat=True).first()}


@pytest.fixture
def caller(role, db, settings):
    """A user of `role` and the headers carrying its token (made once, outside the examples)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # users only, no logins
    user = UserFactory(username=f"api-{role}", role=ROLES[role])
    return user, {"Authorization": f"Token {api_token_for(user)}"}


# What the issue asks of every answer: no 5xx, and an answer that matches the schema
# (documented status, content type, headers, body), and auth that is not ignored. Left out:
# negative_data_rejection (DRF and django-filter ignore a bad page_size or an empty filter,
# by design) and positive_data_acceptance (a schema cannot say that an order's lines must
# add up to its total, so a schema-valid order can rightly be a 400).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, ignored_auth]


def _routes(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


@pytest.mark.parametrize("role", sorted(ROLES))
@schema.parametrize()
# No shrinking: a failure is reported as found, and a failing run stays as short as a passing one.
@hypothesis_settings(max_examples=6, deadline=None, derandomize=True, database=None,
                     phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_every_operation_answers_each_role_within_its_schema(case, role, caller, dataset, in_process_wsgi):
    label = f"{case.operation.method.upper()} {case.operation.path}"  # the coverage phase also tries other methods
    assert label in CAPABILITY, f"{label} is new: name the capability it needs in CAPABILITY"
    user, headers = caller
    # Half the generated ids point at a row that exists, so detail and action views run for real.
    identifier = (case.path_parameters or {}).get("id")
    if isinstance(identifier, int) and identifier % 2 == 0:
        case.path_parameters["id"] = _existing_ids()[case.path.split("/")[2]] or identifier
    if user_can(user, CAPABILITY[label]):
        case.call_and_validate(headers=headers, checks=CHECKS)
    else:
        response = case.call(headers=headers)
        # Refused before anything is read; a path no route matches is a JSON 404 for everyone.
        # Another method (the coverage phase, when on, tries TRACE, OPTIONS...) may be one the
        # role can read: 405, or OPTIONS' description of the form (the schema's, no data).
        expected = {403} if _routes(case.formatted_path) else {404}
        if case.method.upper() != case.operation.method.upper():
            expected |= {405} | ({200} if case.method.upper() == "OPTIONS" else set())
        assert response.status_code in expected, (label, role, response.status_code, response.text[:300])
        assert dict(response.headers)["content-type"][0].startswith("application/json")


def test_the_tested_schema_is_the_one_served(db, in_process_wsgi):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_for(UserFactory(role=ROLES['admin']))}")
    served = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert served == SchemaGenerator().get_schema(request=None, public=True)
    assert {f"{method.upper()} {path}" for path, item in served["paths"].items() for method in item} == set(CAPABILITY)
