"""Ometria error paths that index the pushed array (`root[0] > store`) or name no record.

An errors-list entry whose path indexes the call's array names the record at that
position of the call that produced it; a path that cannot be tied to a record leaves the
records sent before it unconfirmed. Neither may ever end as "accepted" (issue 10, item 2).
"""
from __future__ import annotations

import pytest

from esp.ometria import payloads
from esp.ometria.confirm import ErrorLedger, LedgerState, observe
from esp.ometria.errors_list import POSITIONAL, CallNote, positional_errors
from tests.esp.test_ometria_adapter import World, customer


@pytest.fixture
def world(settings):
    settings.REDIS_URL = ""
    ErrorLedger.forget_all()
    world = World()
    yield world
    world.server.stop()


def listing(*paths: str):
    """A stand-in for Ometria's errors list that lists these paths once pushes have gone out."""
    shown: list[dict[str, str]] = []

    def push_errors():
        return list(shown)

    def show():
        shown.extend({"error_message": "not a valid value", "error_path": path} for path in paths)

    return push_errors, show


# ---------------------------------------------------------------- the parser


def test_a_root_index_path_is_a_position_in_the_call_not_a_record_of_type_root():
    assert payloads.record_of_error_path("root[0] > store") == (None, "root[0] > store")
    assert payloads.position_of_error_path("root[0] > store") == (0, "store")
    assert payloads.position_of_error_path("root[12] > lineitems > 0 > sku") == (12, "lineitems > 0 > sku")
    assert payloads.field_of_error_path("root[3] > store") == "store"
    assert payloads.field_of_error_path("order[WEB-1] > currency") == "currency"


@pytest.mark.parametrize("path", ["root > lastname", "widget[7] > store", "order[] > store", "root[x] > store",
                                  "", "store"])
def test_a_path_that_names_no_known_record_is_tied_to_no_record(path):
    assert payloads.record_of_error_path(path)[0] is None
    assert payloads.position_of_error_path(path)[0] is None


def test_a_named_path_still_names_its_record():
    assert payloads.record_of_error_path("order[WEB-1] > lineitems > 0 > sku") == (
        payloads.RecordRef("order", "WEB-1"), "lineitems > 0 > sku")


# ---------------------------------------------------------------- the ledger


def test_a_positional_error_is_kept_with_the_calls_that_could_have_made_it():
    state = LedgerState()
    observe(state, [], now=1.0)  # the baseline: read 1
    calls = [CallNote("only", at=1.5, epoch=state.epoch, seq=1, size=2, due=31.5),
             CallNote("short", at=1.6, epoch=state.epoch, seq=1, size=1),  # no position 1
             CallNote("later", at=2.5, epoch=state.epoch, seq=2, size=5),  # sent after this read began
             # Its verdict was due before the previous read: validated by then, as its acceptance assumes.
             CallNote("settled", at=-40.0, epoch="", seq=None, size=3, due=-10.0)]
    seen = observe(state, [["not a valid value", "root[1] > store"]], now=2.0, calls=lambda: calls)
    assert not seen.gap
    assert [entry[:2] + entry[6:] for entry in state.log] == [[POSITIONAL, "1", ["only"]]]
    sole, shared = positional_errors(state, receipt="only", position=1, note=None, submitted_at=1.5)
    assert [entry[3] for entry in sole] == ["root[1] > store"] and shared == []
    assert positional_errors(state, receipt="only", position=0, note=None, submitted_at=1.5) == ([], [])


def test_an_unparseable_path_is_a_gap_not_a_record():
    state = LedgerState()
    observe(state, [], now=1.0)
    seen = observe(state, [["not a valid value", "widget[7] > store"]], now=2.0)
    assert seen.gap and state.log == []


# ---------------------------------------------------------------- the verdicts


def test_root_0_refuses_the_first_record_of_the_call_and_the_rest_are_accepted(world):
    destination = world.destination()
    read, show = listing("root[0] > store")
    destination.client.push_errors = read
    items = [customer("C1"), customer("C2")]
    submitted = world.submitted(items, destination.push("customers", items))
    show()  # Ometria validated the call and refused its first record
    world.clock.sleep(70)  # past the grace
    decided = {r.key: r for r in destination.confirm("customers", submitted)}
    assert (decided["C1"].outcome, decided["C1"].reason_code) == ("permanent", "validation_error")
    assert "not a valid value" in decided["C1"].message and "store" in decided["C1"].message
    assert decided["C2"].outcome == "accepted"


def test_an_unparseable_path_leaves_the_calls_records_unconfirmed_even_after_the_grace(world):
    destination = world.destination()
    read, show = listing("widget[7] > store")
    destination.client.push_errors = read
    items = [customer("C1"), customer("C2")]
    submitted = world.submitted(items, destination.push("customers", items))
    show()
    for _ in range(3):  # however long it waits, silence never follows an error it cannot place
        world.clock.sleep(70)
        decided = destination.confirm("customers", submitted)
        assert [(r.key, r.outcome, r.reason_code) for r in decided] == [
            ("C1", "transient", "errors_unconfirmed"), ("C2", "transient", "errors_unconfirmed")]


def test_when_two_calls_could_have_made_a_positional_error_both_records_at_that_place_are_sent_again(world):
    destination = world.destination()
    read, show = listing("root[0] > store")
    destination.client.push_errors = read
    first = [customer("A1"), customer("A2")]
    second = [customer("B1"), customer("B2")]
    submitted = world.submitted(first, destination.push("customers", first))
    submitted += world.submitted(second, destination.push("customers", second))
    show()
    world.clock.sleep(70)
    decided = {r.key: (r.outcome, r.reason_code) for r in destination.confirm("customers", submitted)}
    assert decided == {"A1": ("transient", "errors_unconfirmed"), "B1": ("transient", "errors_unconfirmed"),
                       "A2": ("accepted", ""), "B2": ("accepted", "")}


# ---------------------------------------------------------------- the sandbox


def test_the_sandbox_can_index_the_pushed_array_in_its_error_paths(settings):
    settings.REDIS_URL = ""
    ErrorLedger.forget_all()
    world = World(error_paths="index")
    try:
        destination = world.destination()
        items = [customer("C1"), customer("C2", email="c2@localhost"), customer("C3")]
        submitted = world.submitted(items, destination.push("customers", items))
        world.clock.sleep(70)
        assert world.sandbox.errors == [{"error_message": "not a valid value", "error_path": "root[1] > email"}]
        decided = {r.key: r.outcome for r in destination.confirm("customers", submitted)}
        assert decided == {"C1": "accepted", "C2": "permanent", "C3": "accepted"}
    finally:
        world.server.stop()


@pytest.mark.redis
def test_workers_sharing_redis_refuse_the_record_a_positional_error_names(settings, redis_url):
    settings.REDIS_URL = redis_url
    ErrorLedger("om-test").forget()
    world = World(error_paths="index")
    try:
        pusher, confirmer = world.destination(), world.destination()  # two workers, one account
        items = [customer("C1"), customer("C2", email="c2@localhost")]
        submitted = world.submitted(items, pusher.push("customers", items))
        world.clock.sleep(70)
        decided = {r.key: (r.outcome, r.reason_code) for r in confirmer.confirm("customers", submitted)}
        assert decided == {"C1": ("accepted", ""), "C2": ("permanent", "validation_error")}
    finally:
        ErrorLedger("om-test").forget()
        world.server.stop()
