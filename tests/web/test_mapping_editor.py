"""The mapping editor: validation, preview against the accepted payload, impact, save and roles."""
import os

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from esp.dotdigital.sandbox import DEMO_API_USER, build_demo_sandbox
from esp.dry_run import mapping_dry_run
from esp.mapping import mappings_for
from esp.models import FieldMapping
from syncapp.celery import app as celery_app
from syncapp.models import OutboxItem, OutboxStatus
from syncapp.sandbox_server import serve_in_thread
from syncapp.services import connection_pull, flow_push
from tests.syncapp.fakes import FakeDestination, FakeSource, bp_record

pytestmark = pytest.mark.django_db

LOWER_TIER = ("C001", "C002", "C003")  # the three whose tier is typed in lower case


@pytest.fixture(autouse=True)
def dotdigital(flow):
    """The destination is a dotdigital sandbox on a socket: the editor lists its data fields."""
    sandbox = build_demo_sandbox(os.environ["TEST_DOTDIGITAL_PASSWORD"])
    server = serve_in_thread(sandbox)
    destination = flow.destination
    destination.base_url, destination.api_user = f"{server.url}/{{region}}", DEMO_API_USER
    destination.save()
    yield sandbox
    server.stop()


@pytest.fixture
def accepted(flow):
    """Ten customers, each with a loyalty tier (three typed in lower case), all accepted."""
    records = [bp_record(f"C{n:03d}", udfs={"U_LoyaltyTier": "gold" if f"C{n:03d}" in LOWER_TIER else "GOLD"})
               for n in range(1, 11)]
    connection_pull(connection=flow.connection, adapter=FakeSource([records]))
    flow_push(flow=flow, adapter=FakeDestination())
    assert OutboxItem.objects.filter(flow=flow, status=OutboxStatus.ACCEPTED).count() == 10
    return flow


def url(flow) -> str:
    return f"/mappings/{flow.destination.pk}/customers/"


def form_data(formset, **changes) -> dict:
    """The page's formset as the browser would post it, with `changes` by target field
    ({"LOYALTYTIER": {"transform": "upper"}}, "" for the blank row); None ticks Delete."""
    data = {f"form-{name}": formset.management_form[name].value()
            for name in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS")}
    for form in formset.forms:
        values = {name: form[name].value() for name in form.fields if name != "DELETE"}  # as rendered
        row_changes = changes.get(values["target_field"] or "", {})
        values.update({"DELETE": True} if row_changes is None else row_changes)
        for name, value in values.items():
            if value is True:
                data[f"{form.prefix}-{name}"] = "on"
            elif value is not False:
                data[f"{form.prefix}-{name}"] = "" if value is None else value
    return data


def post(client, flow, action: str, changes: dict | None = None, **extra):
    formset = client.get(url(flow)).context["formset"]
    data = form_data(formset, **(changes or {}))
    data.update({"action": action, "flow": flow.pk, **extra})
    return client.post(url(flow), data)


def post_save(client, flow, changes: dict | None = None):
    """Save as a person does: the impact of the set first, then Save with it seen."""
    shown = post(client, flow, "impact", changes)
    return post(client, flow, "save", changes, impact_seen=shown.context["impact_seen"])


def saved_tier_transform() -> str:
    return FieldMapping.objects.get(target_field="LOYALTYTIER").transform


UPPER_TIER = {"LOYALTYTIER": {"transform": "upper"}}


# ---------------------------------------------------------------- roles


@pytest.mark.parametrize("role, status", [("marketing", 403), ("finance", 403), ("admin", 200)])
def test_only_integration_admins_may_open_the_mapping_editor(as_role, flow, role, status):
    client = as_role(role)
    assert client.get("/mappings/").status_code == status
    assert client.get(url(flow)).status_code == status


def test_a_finance_user_cannot_save_mappings(as_role, accepted):
    before = saved_tier_transform()
    formset = as_role("admin").get(url(accepted)).context["formset"]
    data = {**form_data(formset, **UPPER_TIER), "action": "save", "flow": accepted.pk}
    response = as_role("finance").post(url(accepted), data)
    assert response.status_code == 403
    assert saved_tier_transform() == before


def test_anonymous_users_are_sent_to_the_login_page(as_role, flow):
    response = as_role("anonymous").get(url(flow))
    assert response.status_code == 302 and response.url.startswith("/login/?next=")


# ---------------------------------------------------------------- listing and validation


def test_the_index_lists_each_destination_and_entity_with_its_flows(as_role, flow):
    html = as_role("admin").get("/mappings/").content.decode()
    assert str(flow.destination) in html and flow.name in html and url(flow) in html


def test_the_editor_shows_every_row_with_labelled_fields_and_the_buttons(as_role, flow):
    html = as_role("admin").get(url(flow)).content.decode()
    assert 'value="LOYALTYTIER"' in html and "Source field, row 1" in html
    for button in ("Preview", "Preview impact", "Save mappings", "Add a row"):
        assert f">{button}</button>" in html


@pytest.mark.parametrize("change, message", [
    ({"source_field": "no_such_field"}, "&#x27;no_such_field&#x27; is not a Business Partner field"),
    ({"transform": "date", "arg_format": "7"}, "format"),
    ({"target_field": "A_NAME_MUCH_TOO_LONG_FOR_DOTDIGITAL"}, "at most 20 characters"),
    ({"target_field": "BAD NAME!"}, "may use only letters"),
    ({"target_field": "fullname"}, "fills this destination field already"),
])
def test_a_row_that_cannot_run_is_refused_next_to_its_field_and_nothing_is_saved(as_role, flow, change, message):
    before = list(FieldMapping.objects.values_list("id", "source_field", "transform", "target_field"))
    audited = AuditEntry.objects.filter(content_type__model="fieldmapping").count()  # the defaults' creation
    response = post(as_role("admin"), flow, "save", {"LOYALTYTIER": change})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nothing was saved" in html and message in html
    assert list(FieldMapping.objects.values_list("id", "source_field", "transform", "target_field")) == before
    assert AuditEntry.objects.filter(content_type__model="fieldmapping").count() == audited


# ---------------------------------------------------------------- preview


def test_preview_shows_the_payload_and_what_changed_since_the_destination_accepted_it(as_role, accepted):
    before = saved_tier_transform()
    response = post(as_role("admin"), accepted, "preview", UPPER_TIER, record="C002")
    preview = response.context["preview"]
    assert preview.would_send and preview.accepted_known
    diff = {item.field: item for item in preview.diff}
    assert (diff["LOYALTYTIER"].kind, diff["LOYALTYTIER"].before, diff["LOYALTYTIER"].after) == (
        "changed", "gold", "GOLD")
    assert diff["FULLNAME"].kind == "same" and preview.counts == {"added": 0, "changed": 1, "removed": 0}
    assert preview.outcome.payload["CARDCODE"] == "C002"
    assert saved_tier_transform() == before  # nothing saved


def test_preview_reports_added_and_removed_fields(as_role, accepted):
    new_row = {"": {"source_field": "currency", "target_field": "CURRENCYCODE"}}
    response = post(as_role("admin"), accepted, "preview", {"MOBILE": None, **new_row}, record="C005")
    kinds = {item.field: item.kind for item in response.context["preview"].diff}
    assert kinds["MOBILE"] == "removed" and kinds["CURRENCYCODE"] == "added"


def test_preview_of_an_unchanged_record_says_it_would_not_be_sent(as_role, accepted):
    preview = post(as_role("admin"), accepted, "preview", UPPER_TIER, record="C009").context["preview"]
    assert not preview.would_send and all(item.kind == "same" for item in preview.diff)
    assert "Would not be sent" in post(as_role("admin"), accepted, "preview", UPPER_TIER,
                                       record="C009").content.decode()


def test_preview_says_when_only_the_accepted_hash_is_known(as_role, accepted):
    OutboxItem.objects.filter(flow=accepted, record_key="C002").update(
        payload={"FULLNAME": "queued since"}, payload_hash="f" * 64, status=OutboxStatus.PENDING)
    preview = post(as_role("admin"), accepted, "preview", UPPER_TIER, record="C002").context["preview"]
    assert not preview.accepted_known and "only the accepted payload" in preview.accepted_note
    assert preview.would_send


def test_preview_of_a_record_queued_again_after_an_unanswered_send_says_it_would_be_sent(
        as_role, accepted, changed_back_while_out):
    """C009 under the new mappings is what the destination accepted, but a change went out
    since and its answer never came: it is queued to go again."""
    changed_back_while_out(accepted, "C009")
    response = post(as_role("admin"), accepted, "preview", UPPER_TIER, record="C009")
    preview = response.context["preview"]
    assert preview.would_send and preview.reason == "exactly this payload is already queued"
    assert "Would be sent" in response.content.decode()


def test_preview_says_a_record_goes_again_when_another_payload_went_out_since_it_was_accepted(as_role, accepted):
    """Mappings with no consent field: C009's new payload is what the destination accepted,
    but another payload of it is on its way, so the destination may end with either."""
    no_consent = {**UPPER_TIER, "MARKETINGCONSENT": None}
    planned = post(as_role("admin"), accepted, "preview", no_consent, record="C009").context["preview"].outcome
    OutboxItem.objects.filter(flow=accepted, record_key="C009").update(
        accepted_hash=planned.payload_hash, payload={**planned.payload, "FULLNAME": "On Its Way"},
        payload_hash="e" * 64, status=OutboxStatus.IN_FLIGHT, claim_token="t", claimed_at=timezone.now())
    preview = post(as_role("admin"), accepted, "preview", no_consent, record="C009").context["preview"]
    assert preview.outcome.payload_hash == planned.payload_hash
    assert preview.would_send and "another one has been sent since" in preview.reason


def test_preview_of_a_payload_refused_as_it_stands_says_it_would_not_be_sent(as_role, accepted):
    planned = post(as_role("admin"), accepted, "preview", UPPER_TIER, record="C002").context["preview"]
    OutboxItem.objects.filter(flow=accepted, record_key="C002").update(
        payload=planned.outcome.payload, payload_hash=planned.outcome.payload_hash, status=OutboxStatus.FAILED)
    response = post(as_role("admin"), accepted, "preview", UPPER_TIER, record="C002")
    preview = response.context["preview"]
    assert not preview.would_send and "refused exactly this payload" in preview.reason
    assert "Would not be sent" in response.content.decode()


def test_a_search_matching_several_records_lists_them_to_choose_from(as_role, accepted):
    response = post(as_role("admin"), accepted, "preview", UPPER_TIER, record="Customer C00")
    assert [choice.key for choice in response.context["choices"]] == [f"C{n:03d}" for n in range(1, 10)]
    assert response.context.get("preview") is None


def test_an_unknown_record_is_said_plainly(as_role, accepted):
    response = post(as_role("admin"), accepted, "preview", UPPER_TIER, record="NOPE")
    assert "No record of" in response.context["preview_message"]


# ---------------------------------------------------------------- impact (the dry run of every flow shaped)


def test_the_impact_counts_the_records_the_change_would_re_send(as_role, accepted):
    result = post(as_role("admin"), accepted, "impact", UPPER_TIER).context["impact"].flows[0].result
    assert (result.checked, result.resend, result.unchanged, result.failing) == (10, 3, 7, 0)
    assert sorted(result.sample) == list(LOWER_TIER)
    assert OutboxItem.objects.filter(flow=accepted, status=OutboxStatus.PENDING).count() == 0  # nothing written


def test_the_dry_run_counts_the_same_in_small_batches(accepted):
    mappings = mappings_for(destination=accepted.destination, entity="customers")
    for mapping in mappings:
        if mapping.target_field == "LOYALTYTIER":
            mapping.transform, mapping.transform_arg = "upper", None
    result = mapping_dry_run(flow=accepted, mappings=mappings, batch_size=3)
    assert (result.checked, result.resend, result.unchanged) == (10, 3, 7)


def test_the_impact_counts_records_the_change_would_break(as_role, accepted):
    result = post(as_role("admin"), accepted, "impact", {"LOYALTYTIER": {"target_type": "Numeric"}}
                  ).context["impact"].flows[0].result
    assert result.failing == 10 and result.resend == 0


# ---------------------------------------------------------------- save


@pytest.fixture
def eager_celery(monkeypatch):
    from syncapp import tasks

    monkeypatch.setattr(tasks.flow_push_task, "delay", lambda *args: None)  # the test pushes itself
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def test_saving_applies_the_change_and_re_plans_the_flow(as_role, accepted, eager_celery,
                                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_save(as_role("admin"), accepted, UPPER_TIER)
    assert response.status_code == 302
    assert FieldMapping.objects.get(target_field="LOYALTYTIER").transform == "upper"
    pending = OutboxItem.objects.filter(flow=accepted, status=OutboxStatus.PENDING)
    assert sorted(pending.values_list("record_key", flat=True)) == list(LOWER_TIER)
    assert pending.get(record_key="C001").payload["LOYALTYTIER"] == "GOLD"


def test_saving_adds_deletes_and_reorders_rows_in_one_go(as_role, flow, eager_celery):
    changes = {"MOBILE": None, "CITY": {"position": "1"},
               "": {"source_field": "U_Segment", "target_field": "__new__", "target_new": "SEGMENT",
                    "transform": "trim"}}
    response = post_save(as_role("admin"), flow, changes)
    assert response.status_code == 302
    targets = [m.target_field for m in mappings_for(destination=flow.destination, entity="customers")]
    assert "MOBILE" not in targets and targets[0] == "CITY" and targets[-1] == "SEGMENT"


def test_saving_records_who_changed_what_in_the_history_shown_on_the_page(as_role, accepted, eager_celery):
    client = as_role("admin")
    before = saved_tier_transform()
    post_save(client, accepted, UPPER_TIER)
    entry = AuditEntry.objects.get(content_type__model="fieldmapping", action="update")
    assert entry.actor == "admin" and entry.action == "update"
    assert (entry.before["transform"], entry.after["transform"]) == (before, "upper")
    html = client.get(url(accepted)).content.decode()
    assert "History of these mappings" in html and f"{before} → upper" in html


def test_adding_a_row_keeps_what_was_typed(as_role, flow):
    before = saved_tier_transform()
    response = post(as_role("admin"), flow, "add_row", UPPER_TIER)
    formset = response.context["formset"]
    assert len(formset.forms) == FieldMapping.objects.count() + 2
    assert 'value="upper" selected' in response.content.decode()
    assert saved_tier_transform() == before


def test_a_mapping_changed_in_the_django_admin_re_plans_its_flow_too(as_role, accepted, eager_celery,
                                                                     django_capture_on_commit_callbacks):
    mapping = FieldMapping.objects.get(target_field="LOYALTYTIER")
    client = as_role("admin")
    page = client.get(f"/admin/esp/fieldmapping/{mapping.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() not in (None, False)}
    data.update({"transform": "upper", "transform_arg": "", "enabled": "on"})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/esp/fieldmapping/{mapping.pk}/change/", data)
    assert response.status_code == 302
    pending = OutboxItem.objects.filter(flow=accepted, status=OutboxStatus.PENDING)
    assert sorted(pending.values_list("record_key", flat=True)) == list(LOWER_TIER)
