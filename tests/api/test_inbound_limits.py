"""Inbound limits of the API: size, depth, lines and text, each a 400 or 413 with a reason, never a 500."""
from __future__ import annotations

import json

import pytest

from tests.erp.test_provisional_orders import checkout
from tests.factories import ErpConnectionFactory
from tests.web.factories import SyncExceptionFactory

pytestmark = pytest.mark.django_db
URL = "/api/provisional-orders/"


@pytest.fixture
def shop(api_as):
    ErpConnectionFactory()  # the only connection: orders need not name it
    return api_as("webshop")


def post_raw(client, body: str | bytes, url: str = URL):
    return client.generic("POST", url, body, content_type="application/json")


def nested(depth: int) -> str:
    """JSON text of `depth` arrays, one inside the other."""
    return "[" * depth + "]" * depth


def test_a_normal_order_is_still_created(shop):
    response = shop.post(URL, checkout(), format="json")
    assert response.status_code == 201, response.content


def test_json_nested_a_hundred_thousand_deep_is_a_400_not_a_500(shop):
    response = post_raw(shop, '{"web_reference": ' + nested(100_000) + "}")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def test_json_one_level_past_the_depth_limit_is_refused_even_in_an_unknown_field(shop, settings):
    body = json.dumps(checkout())[:-1] + ', "extra": ' + nested(settings.SYNC_API_MAX_JSON_DEPTH) + "}"
    response = post_raw(shop, body)
    assert response.status_code == 400
    assert "at most 20 levels" in response.json()["detail"]


def test_json_at_the_depth_limit_is_read(shop, settings):
    body = json.dumps(checkout())[:-1] + ', "extra": ' + nested(settings.SYNC_API_MAX_JSON_DEPTH - 1) + "}"
    assert post_raw(shop, body).status_code == 201


def test_every_endpoint_refuses_deep_json_with_a_400(api_as):
    exception = SyncExceptionFactory()
    response = post_raw(api_as("marketing"), '{"note": ' + nested(100_000) + "}",
                        url=f"/api/exceptions/{exception.pk}/ignore/")
    assert response.status_code == 400 and "nested too deeply" in response.json()["detail"]


def test_a_body_over_one_megabyte_is_a_413_with_the_limit(shop):
    body = json.dumps(checkout(note="x" * 1_000_001))
    response = post_raw(shop, body)
    assert response.status_code == 413
    assert response.json()["detail"] == "The request body is over 1000000 bytes."


def test_the_body_limit_is_a_setting(shop, settings):
    settings.SYNC_API_MAX_BODY_BYTES = 100
    assert post_raw(shop, json.dumps(checkout())).status_code == 413


def test_more_than_five_hundred_lines_is_a_400_naming_the_limit(shop):
    lines = [{"sku": f"S{n}", "qty": 1, "price": "1.00"} for n in range(501)]
    response = shop.post(URL, checkout(lines=lines, tax_total="0", shipping_total="0", grand_total="501.00"),
                         format="json")
    assert response.status_code == 400
    assert "no more than 500" in json.dumps(response.json()["lines"])


@pytest.mark.parametrize("field", ["web_reference", "customer_email", "customer_id", "currency", "connection",
                                   "lines.sku", "lines.name"])
def test_each_overlong_text_is_a_400_naming_its_field_without_echoing_it(shop, field):
    order = checkout()
    if field.startswith("lines."):
        order["lines"][0][field.removeprefix("lines.")] = "x" * 10_000
    else:
        order[field] = "x" * 10_000
    response = shop.post(URL, order, format="json")
    assert response.status_code == 400
    errors = response.json()
    named = errors["lines"]["0"] if field.startswith("lines.") else errors
    assert field.removeprefix("lines.") in named
    assert len(response.content) < 1000


def test_a_lone_surrogate_in_a_string_is_a_400_with_the_reason(shop):
    body = json.dumps(checkout(web_reference="WEB-\ud800"))
    response = post_raw(shop, body)
    assert response.status_code == 400
    assert "lone surrogate" in response.json()["detail"]
