"""Attribution against a hand-computed table (see world.py), to the cent, for each model."""
from decimal import Decimal

import pytest

from reports.campaigns.attribution import attribution_run
from reports.campaigns.models import AttributedOrder, AttributionSettings
from reports.campaigns.report import campaign_report
from tests.campaigns.world import build_world

pytestmark = pytest.mark.django_db

D = Decimal

# campaign -> (orders, gross, refunds, net), worked out by hand from world.py's table.
EXPECTED = {
    "last_touch": {"A": (1, D("80.00"), D("30.00"), D("50.00")),
                   "B": (3, D("220.56"), D("35.03"), D("185.53"))},
    "first_touch": {"A": (2, D("180.01"), D("30.03"), D("149.98")),
                    "B": (2, D("120.55"), D("35.00"), D("85.55"))},
    "linear": {"A": (2, D("130.01"), D("30.02"), D("99.99")),
               "B": (3, D("170.55"), D("35.01"), D("135.54"))},
}
# Which orders each campaign takes, and each one's gross part (cents).
EXPECTED_ORDERS = {
    "last_touch": {"A": {"O2": 8000}, "B": {"O1": 10001, "O4": 9555, "O8": 2500}},
    "first_touch": {"A": {"O1": 10001, "O2": 8000}, "B": {"O4": 9555, "O8": 2500}},
    "linear": {"A": {"O1": 5001, "O2": 8000}, "B": {"O1": 5000, "O4": 9555, "O8": 2500}},
}



@pytest.mark.parametrize("model", sorted(EXPECTED))
def test_each_model_matches_the_hand_computed_table(model):
    world = build_world()
    run = attribution_run(settings=AttributionSettings(model=model, click_window_days=7))
    report = {row.campaign.external_id: row for row in campaign_report(run=run)}
    for name, (orders, gross, refunds, net) in EXPECTED[model].items():
        row = report[world[name].external_id]
        assert (row.orders, row.gross, row.refunds, row.net) == (orders, gross, refunds, net), (model, name)
    names = {world[key].pk: key for key in ("O1", "O2", "O3", "O4", "O5", "O6", "O7", "O8")}
    taken = {}
    for row in AttributedOrder.objects.filter(run=run):
        campaign = "A" if row.campaign_id == world["A"].pk else "B"
        taken.setdefault(campaign, {})[names[row.order_id]] = row.gross_cents
    assert taken == EXPECTED_ORDERS[model]


def test_linear_parts_add_up_to_the_order_exactly():
    world = build_world()
    run = attribution_run(settings=AttributionSettings(model="linear", click_window_days=7))
    parts = AttributedOrder.objects.filter(run=run, order=world["O1"])
    assert sorted(p.gross_cents for p in parts) == [5000, 5001]
    assert sum(p.refunds_cents for p in parts) == 3  # the 0.03 credit memo, split 0.02 / 0.01
    assert {p.parts for p in parts} == {2}


def test_the_window_is_counted_in_days_after_the_click():
    world = build_world()
    wider = attribution_run(settings=AttributionSettings(model="last_touch", click_window_days=8))
    assert AttributedOrder.objects.filter(run=wider, order=world["O3"], campaign=world["A"]).exists()
    narrower = attribution_run(settings=AttributionSettings(model="last_touch", click_window_days=6))
    assert not AttributedOrder.objects.filter(run=narrower, order=world["O2"]).exists()


def test_opens_count_only_when_enabled_and_never_over_a_click():
    world = build_world()
    run = attribution_run(settings=AttributionSettings(model="last_touch", click_window_days=7, open_window_days=2))
    dan = AttributedOrder.objects.get(run=run, order=world["O7"])
    assert (dan.campaign_id, dan.touch_kind, dan.gross) == (world["A"].pk, "open", D("50.00"))
    # cara opened A after B's click window began; her orders stay B's (clicks first).
    assert set(AttributedOrder.objects.filter(run=run, order__in=[world["O4"], world["O8"]])
               .values_list("campaign_id", flat=True)) == {world["B"].pk}


def test_foreign_currency_orders_count_in_local_currency():
    world = build_world()
    run = attribution_run(settings=AttributionSettings(model="last_touch", click_window_days=7))
    row = AttributedOrder.objects.get(run=run, order=world["O4"])
    assert (row.gross, row.refunds, row.net) == (D("95.55"), D("10.00"), D("85.55"))  # not the 120.00 USD


def test_a_new_run_replaces_the_previous_rows():
    build_world()
    first = attribution_run(settings=AttributionSettings(model="last_touch", click_window_days=7))
    second = attribution_run(settings=AttributionSettings(model="first_touch", click_window_days=7))
    assert not AttributedOrder.objects.filter(run=first).exists()
    assert AttributedOrder.objects.filter(run=second).count() == second.rows_written == 4


def test_refunds_that_lead_to_no_order_are_counted_not_dropped():
    build_world()
    run = attribution_run(settings=AttributionSettings(model="last_touch", click_window_days=7))
    assert (run.untraced_refund_documents, run.untraced_refunds) == (1, D("7.00"))
