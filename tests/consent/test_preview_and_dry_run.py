"""The mapping editor's preview and dry run answer as the planner plans consent: an ERP
opt-in for a contact the destination holds is not shown as sent, an opt-out is, and
neither writes anything (issue 15)."""
from __future__ import annotations

import pytest

from consent.models import ConsentEvent
from erp.models import BusinessPartner
from esp.dry_run import mapping_dry_run
from esp.mapping import mappings_for
from esp.mapping_preview import CHANGED, KEPT, SAME, payload_preview
from syncapp.services import connection_pull, flow_push, records_replan
from tests.syncapp.fakes import FakeDestination, FakeSource, bp_record

pytestmark = pytest.mark.django_db


def test_the_preview_and_dry_run_show_an_erp_opt_out_but_never_an_opt_in_to_a_held_contact(flow):
    connection_pull(connection=flow.connection, adapter=FakeSource([[
        bp_record("C001", udfs={"U_MarketingConsent": "N"}), bp_record("C002", udfs={"U_MarketingConsent": "Y"}),
        bp_record("C003", udfs={"U_MarketingConsent": "N"})]]))
    flow_push(flow=flow, adapter=FakeDestination())
    BusinessPartner.objects.filter(card_code="C001").update(udfs={"U_MarketingConsent": "Y"})
    BusinessPartner.objects.filter(card_code="C003").update(udfs={"U_MarketingConsent": "Y"}, card_name="Renamed")
    BusinessPartner.objects.filter(card_code="C002").update(udfs={"U_MarketingConsent": "N"})
    mappings = mappings_for(destination=flow.destination, entity="customers")

    opt_in, opt_out, renamed = (payload_preview(flow=flow, mappings=mappings, key=k) for k in ("C001", "C002", "C003"))
    counted = mapping_dry_run(flow=flow, mappings=mappings)

    assert not opt_in.would_send and {d.kind for d in opt_in.diff} == {SAME}
    assert opt_out.would_send and [(d.field, d.kind, d.after) for d in opt_out.diff if d.kind != SAME] == [
        ("MARKETINGCONSENT", CHANGED, False)]
    assert [(d.field, d.kind) for d in renamed.diff if d.kind != SAME] == [("FULLNAME", CHANGED),
                                                                          ("MARKETINGCONSENT", KEPT)]
    assert (counted.resend, counted.unchanged, counted.sample) == (2, 1, ["C002", "C003"])
    assert not ConsentEvent.objects.exists()  # a preview writes nothing
    planned = records_replan(flow=flow, record_keys=["C001", "C002", "C003"])  # and the planner agrees
    assert (planned.unchanged, sorted(planned.queued)) == (["C001"], ["C002", "C003"])
