"""DotdigitalDestination against the sandbox over a real socket."""

from __future__ import annotations

import pytest

from esp.dotdigital.adapter import DotdigitalDestination
from syncapp.adapters import FieldSpec, PushItem, TransportError

from .dotdigital_support import world


def items(*emails: str, **fields: object) -> list[PushItem]:
    return [
        PushItem(key=f"C{n:05d}", identifier=email, fields={"FIRSTNAME": f"Name {n}", **fields})
        for n, email in enumerate(emails)
    ]


def test_limits_follow_the_docs_and_the_account_overrides_the_rate():
    with world() as w:
        assert w.destination().limits.batch_size == 10_000
        assert w.destination().limits.calls_per_minute == 35
        assert w.destination().limits.single_call_threshold == 2
        assert w.destination(account={"calls_per_minute": 400}).limits.calls_per_minute == 400


def test_ensure_fields_creates_only_the_missing_fields():
    with world() as w:
        dest = w.destination()
        created = dest.ensure_fields(
            "customers",
            [FieldSpec("firstname"), FieldSpec("CARDCODE"), FieldSpec("BALANCE", "Numeric")],
        )
        assert created == ["CARDCODE", "BALANCE"]
        assert w.sandbox.data_fields["BALANCE"]["type"] == "Numeric"
        assert [c[:2] for c in w.sandbox.call_log] == [
            ("GET", "/v2/data-fields"),
            ("POST", "/v2/data-fields"),
            ("POST", "/v2/data-fields"),
        ]
        assert dest.ensure_fields("customers", [FieldSpec("CARDCODE")]) == []


def test_ensure_fields_refuses_a_21_character_name_before_calling():
    with world() as w:
        with pytest.raises(TransportError) as caught:
            w.destination().ensure_fields("customers", [FieldSpec("A" * 21)])
        assert caught.value.permanent and caught.value.reason_code == "invalid_field_name"
        assert "at most 20 characters" in caught.value.message
        assert w.sandbox.call_log == []


def test_field_name_problem_explains_in_plain_words():
    assert DotdigitalDestination.field_name_problem("LOYALTY_TIER-2") is None
    assert "20 characters" in DotdigitalDestination.field_name_problem("X" * 21)
    assert "letters, digits" in DotdigitalDestination.field_name_problem("CARD CODE")
    assert DotdigitalDestination.field_name_problem("")


def test_bulk_push_reports_each_contact_and_stores_the_good_ones():
    with world() as w:
        w.sandbox.suppress("gone@example.com")
        dest = w.destination(poll_initial_wait=3.0)  # the sandbox takes 3 s per import
        batch = items(
            "ann@example.com",
            "not-an-email",
            "gone@example.com",
            "bob@example.com",
            "dup@example.com",
            "DUP@example.com",
        )
        results = dest.push("customers", batch)
        by_key = {r.key: r for r in results}
        assert [r.key for r in results] == [i.key for i in batch]
        assert by_key["C00000"].outcome == "accepted" and by_key["C00000"].remote_id
        assert by_key["C00003"].outcome == "accepted"
        assert (by_key["C00001"].outcome, by_key["C00001"].reason_code) == (
            "permanent",
            "invalidEmail",
        )
        assert by_key["C00001"].message == "dotdigital refused the email address as invalid"
        assert by_key["C00001"].request["identifiers"] == {"email": "not-an-email"}
        assert by_key["C00001"].response["failures"][0]["failureCode"] == "invalidEmail"
        assert (by_key["C00002"].outcome, by_key["C00002"].reason_code) == (
            "permanent",
            "suppressed",
        )
        assert "suppressed" in by_key["C00002"].message
        assert {by_key["C00004"].reason_code, by_key["C00005"].reason_code} == {
            "duplicateIdentifier"
        }
        stored = w.sandbox.contacts
        assert stored["ann@example.com"]["dataFields"] == {"FIRSTNAME": "Name 0"}
        assert "not-an-email" not in stored and "dup@example.com" not in stored
        assert by_key["C00000"].remote_id == str(stored["ann@example.com"]["contactId"])
        assert dest.calls == 2  # one import, one status poll


def test_a_second_push_updates_contacts_in_place():
    with world() as w:
        dest = w.destination()
        first = dest.push("customers", items("a@example.com", "b@example.com", "c@example.com"))
        again = dest.push(
            "customers",
            [
                PushItem("C00000", "A@example.com", {"FIRSTNAME": "Renamed"}),
                *items("a@example.com", "b@example.com", "c@example.com")[1:],
            ],
        )
        assert [r.outcome for r in again] == ["accepted"] * 3
        assert again[0].remote_id == first[0].remote_id
        assert len(w.sandbox.contacts) == 3
        assert w.sandbox.contacts["a@example.com"]["dataFields"]["FIRSTNAME"] == "Renamed"


def test_one_or_two_items_go_through_single_upserts():
    with world() as w:
        results = w.destination().push("customers", items("x@example.com", "y@example.com"))
        assert [r.outcome for r in results] == ["accepted", "accepted"]
        assert [c[0] for c in w.sandbox.call_log] == ["PATCH", "PATCH"]
        assert w.sandbox.contacts["x@example.com"]["dataFields"]["FIRSTNAME"] == "Name 0"


def test_single_upserts_report_invalid_and_suppressed_contacts():
    with world() as w:
        w.sandbox.suppress("gone@example.com")
        bad, gone = w.destination().push("customers", items("nope", "gone@example.com"))
        assert (bad.outcome, bad.reason_code) == ("permanent", "contacts:invalidId")
        assert bad.message == "dotdigital refused the email address as invalid"
        assert (gone.outcome, gone.reason_code) == ("permanent", "suppressed")


def test_a_watchdog_rejection_fails_every_contact_plainly():
    with world() as w:
        w.sandbox.fail_next_import("RejectedByWatchdog")
        results = w.destination().push(
            "customers", items("a@example.com", "b@example.com", "c@example.com")
        )
        assert {r.outcome for r in results} == {"permanent"}
        assert {r.reason_code for r in results} == {"RejectedByWatchdog"}
        assert "Watchdog" in results[0].message
        assert w.sandbox.contacts == {}


def test_unknown_data_fields_fail_the_batch_permanently_with_the_field_named():
    with world() as w:
        results = w.destination().push(
            "customers", items("a@example.com", "b@example.com", "c@example.com", NOSUCHFIELD=1)
        )
        assert {(r.outcome, r.reason_code) for r in results} == {
            ("permanent", "contacts:dataFieldNotFound")
        }
        assert results[0].response["details"][0]["item"] == "NOSUCHFIELD"


def test_contacts_missing_from_the_report_are_never_silently_accepted():
    class Client:
        calls = 0

        def import_contacts(self, contacts, merge_option="overwrite"):
            return "imp-1"

        def import_status(self, import_id):
            created = [{"contactId": 7, "identifiers": {"email": "a@example.com"}}]
            return {
                "importId": import_id,
                "status": "Finished",
                "created": created,
                "updated": [],
                "failures": [],
                "summary": {"globallySuppressed": 1},
            }

    with world() as w:
        dest = w.destination(client=Client())
        a, b, c = dest.push("customers", items("a@example.com", "b@example.com", "c@example.com"))
        assert (a.outcome, a.remote_id) == ("accepted", "7")
        assert b.outcome == c.outcome == "transient"
        assert b.reason_code == "not_in_report" and "suppressed" in b.message


def test_ten_thousand_contacts_cost_at_most_three_calls():
    with world(import_delay_seconds=4.0) as w:
        dest = w.destination(poll_initial_wait=2.0, poll_wait_per_contact=0.0005)
        batch = items(*[f"customer{n}@example.com" for n in range(10_000)])
        results = dest.push("customers", batch)
        assert {r.outcome for r in results} == {"accepted"}
        assert dest.calls <= 3
        assert len(w.sandbox.contacts) == 10_000


def test_read_back_returns_what_dotdigital_holds():
    with world() as w:
        dest = w.destination()
        dest.push("customers", items("a@example.com"))
        found = dest.read_back("customers", ["a@example.com", "unknown@example.com"])
        assert list(found) == ["a@example.com"]
        assert found["a@example.com"]["dataFields"] == {"FIRSTNAME": "Name 0"}
        assert found["a@example.com"]["status"] == "subscribed"


def test_other_entities_are_refused():
    with world() as w:
        with pytest.raises(TransportError) as caught:
            w.destination().push("invoices", items("a@example.com"))
        assert caught.value.permanent
