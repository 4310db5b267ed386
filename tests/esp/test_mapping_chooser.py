"""The mapping editor chooses, not types: destination fields from what the destination
declares, source fields with a sample from a real record, transforms with proper inputs
for their arguments, and a save only after the impact of exactly that set was shown."""
import os
import re

import pytest

from erp.models import ErpConnection
from esp.default_mappings import mappings_install_defaults
from esp.dotdigital.sandbox import DEMO_API_USER, build_demo_sandbox
from esp.field_catalog import destination_catalog, target_refusal
from esp.forms import NEW_TARGET
from esp.models import EspAccount, FieldMapping
from esp.source_fields import source_catalog
from esp.transform_args import arg_from_inputs, inputs_from_arg, pairs_parse, pairs_text
from esp.transforms import TRANSFORMS
from syncapp.models import Flow, OutboxItem, OutboxStatus
from syncapp.roles import FINANCE, INTEGRATION_ADMIN, MARKETING
from syncapp.sandbox_server import serve_in_thread
from syncapp.services import connection_pull, flow_push
from tests.factories import ErpConnectionFactory
from tests.syncapp.fakes import FakeDestination, FakeSource, bp_record
from tests.web.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()  # the catalogs are cached for a minute; each test starts from the destination
    yield
    cache.clear()


@pytest.fixture
def as_role(client):
    """`as_role("admin")` logs the client in as a user of that role (as in tests/web)."""
    roles = {"marketing": MARKETING, "finance": FINANCE, "admin": INTEGRATION_ADMIN}

    def login(name: str):
        client.logout()
        client.force_login(UserFactory(username=name, role=roles[name]))
        return client

    return login


@pytest.fixture
def dotdigital(flow):
    """The flow's destination is a dotdigital sandbox on a socket, with two more data fields."""
    sandbox = build_demo_sandbox(os.environ["TEST_DOTDIGITAL_PASSWORD"])
    sandbox.state.create_field({"name": "LOYALTYPOINTS", "type": "Numeric"})
    sandbox.state.create_field({"name": "TIER", "type": "String"})
    server = serve_in_thread(sandbox)
    destination = flow.destination
    destination.base_url, destination.api_user = f"{server.url}/{{region}}", DEMO_API_USER
    destination.save()
    yield sandbox
    server.stop()


def url(flow) -> str:
    return f"/mappings/{flow.destination_id}/customers/"


def rows_as_rendered(client, flow) -> tuple[dict, list[dict]]:
    """The page's formset as the browser would post it: management data, then each row."""
    formset = client.get(url(flow)).context["formset"]
    management = {f"form-{name}": formset.management_form[name].value()
                  for name in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS")}
    rows = [{name: form[name].value() for name in form.fields} for form in formset.forms]
    return management, rows


def post(client, flow, action: str, changes: dict | None = None, **extra):
    """Post the page with `changes` by target field ("" = the blank row; None ticks Delete)."""
    management, rows = rows_as_rendered(client, flow)
    data = dict(management)
    for number, row in enumerate(rows):
        change = (changes or {}).get(row["target_field"] or "", {})
        row.update({"DELETE": True} if change is None else change)
        for name, value in row.items():
            if value is True:
                data[f"form-{number}-{name}"] = "on"
            elif value not in (False, None):
                data[f"form-{number}-{name}"] = value
    data.update({"action": action, "flow": flow.pk, **extra})
    return client.post(url(flow), data)


def save(client, flow, changes: dict | None = None):
    shown = post(client, flow, "impact", changes)
    return post(client, flow, "save", changes, impact_seen=shown.context["impact_seen"])


@pytest.fixture
def accepted(flow):
    """Four customers, accepted by the destination under the default mappings."""
    records = [bp_record("C001", name="Ada Lovelace", udfs={"U_LoyaltyTier": "Gold"}),
               bp_record("C002", name="Lovelace, Ada", udfs={"U_LoyaltyTier": ""}),
               bp_record("C003", name="Alan Turing"),
               bp_record("C004", name="Grace Hopper", udfs={"U_Segment": "VIP"})]
    connection_pull(connection=flow.connection, adapter=FakeSource([records]))
    flow_push(flow=flow, adapter=FakeDestination())
    assert OutboxItem.objects.filter(flow=flow, status=OutboxStatus.ACCEPTED).count() == 4
    return flow


# ---------------------------------------------------------------- what the destination declares


def test_dotdigital_data_fields_are_read_through_the_client_and_cached_briefly(flow, dotdigital):
    catalog = destination_catalog(destination=flow.destination)
    assert catalog.available and catalog.kind == "dotdigital"
    assert {f.name: f.type for f in catalog.fields}["LOYALTYPOINTS"] == "Numeric"
    assert {"FIRSTNAME", "FULLNAME", "TIER"} <= {f.name for f in catalog.fields}
    assert catalog.declares("fullname")  # dotdigital compares names ignoring case
    destination_catalog(destination=flow.destination)
    asked = [call for call in dotdigital.call_log if call[:2] == ("GET", "/v2/data-fields")]
    assert len(asked) == 1  # the second look came from the cache
    destination_catalog(destination=flow.destination, refresh=True)
    assert len([call for call in dotdigital.call_log if call[:2] == ("GET", "/v2/data-fields")]) == 2


def test_an_unreachable_destination_gives_an_unavailable_list_with_the_reason_not_a_crash(flow):
    flow.destination.base_url = "http://127.0.0.1:9/{region}"  # nothing listens there
    flow.destination.save()
    catalog = destination_catalog(destination=flow.destination)
    assert not catalog.available and "could not be read" in catalog.problem
    refusal = target_refusal(catalog=catalog, target="NEWFIELD", saved=["FULLNAME"], new=False)
    assert "cannot be checked" in refusal
    assert target_refusal(catalog=catalog, target="fullname", saved=["FULLNAME"], new=False) is None
    assert target_refusal(catalog=catalog, target="NEWFIELD", saved=[], new=True) is None


@pytest.fixture(params=["in-process", "redis"])
def allowance(request, settings, monkeypatch):
    """The destination's allowance on the embedded defaults' bucket, or on the shared one."""
    monkeypatch.setattr("syncapp.ratelimit._local_buckets", {})  # a pause must not outlive the test
    settings.REDIS_URL = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    return request.param


def test_the_page_does_not_wait_out_a_pause_the_pushes_earned_it_says_why_the_list_is_missing(
        as_role, accepted, dotdigital, allowance):
    """A 429 to a push pauses the account's allowance (up to a minute): the editor takes its turn
    with the pushes, but a person is waiting, so it says the list was not read instead of hanging."""
    from esp.dotdigital.adapter import DEFAULT_CALLS_PER_MINUTE
    from syncapp.ratelimit import throttle_for

    destination = accepted.destination
    throttle_for(destination, destination.calls_per_minute or DEFAULT_CALLS_PER_MINUTE).defer(8.0)

    page = as_role("admin").get(url(accepted))
    assert page.status_code == 200
    assert not [call for call in dotdigital.call_log if call[:2] == ("GET", "/v2/data-fields")]
    catalog = page.context["row_choices"].catalog
    assert not catalog.available
    # What is left of the 8 s pause when the page asked: less on a machine slow to serve it.
    left = re.search(r"call allowance is in use by the pushes for about (\d+) s more", catalog.problem)
    assert left and 1 <= int(left[1]) <= 8
    assert catalog.problem in page.content.decode()
    refusal = target_refusal(catalog=catalog, target="NEWFIELD", saved=["FULLNAME"], new=False)
    assert "cannot be checked against the destination now" in refusal and "New data field" in refusal


def test_ometria_declares_its_documented_contact_fields_and_leaves_properties_free_form(db):
    account = EspAccount.objects.create(name="om", kind="ometria", password_env="TEST_OMETRIA_API_KEY")
    catalog = destination_catalog(destination=account)
    names = {f.name for f in catalog.fields}
    assert {"firstname", "lastname", "date_of_birth", "marketing_optin", "phone_number", "name"} <= names
    assert "any other name becomes a contact property" in catalog.free_form and catalog.new_label == "New property…"
    assert "has no field 'loyalty_points'" in target_refusal(catalog=catalog, target="loyalty_points", saved=[],
                                                             new=False)
    assert target_refusal(catalog=catalog, target="loyalty_points", saved=[], new=True) is None


# ---------------------------------------------------------------- where the values come from


def test_source_fields_carry_a_sample_from_the_first_record_that_has_a_value(accepted):
    accepted.connection.user_fields = ["U_LoyaltyTier", "U_Birthday"]
    accepted.connection.save()
    fields = {f.name: f for f in source_catalog(connections=[accepted.connection])}
    assert fields["card_name"].sample == "Ada Lovelace"
    assert fields["U_LoyaltyTier"].sample == "Gold" and fields["U_LoyaltyTier"].group == "User-defined fields"
    assert fields["U_Segment"].sample == "VIP"  # present in a record, though not in the connection's list
    assert fields["U_Birthday"].sample == ""  # read by the connection, empty in every record
    assert fields["email"].sample == "c***@example.com"  # what a field holds, not whose it is
    assert fields["bill_to.city"].group == "Billing address"


def test_a_sample_beyond_the_first_records_is_still_found(accepted, monkeypatch):
    monkeypatch.setattr("esp.source_fields.WINDOW", 1)
    fields = {f.name: f for f in source_catalog(connections=[accepted.connection])}
    assert fields["U_Segment"].sample == "VIP"  # C004 only


def test_the_page_offers_the_declared_fields_and_the_sources_with_their_samples(as_role, accepted, dotdigital):
    html = as_role("admin").get(url(accepted)).content.decode()
    assert '<option value="LOYALTYPOINTS" data-type="Numeric">LOYALTYPOINTS · Numeric</option>' in html
    assert "U_Segment · Segment · e.g. VIP" in html and 'data-sample="VIP"' in html
    assert f'<option value="{NEW_TARGET}">New data field…</option>' in html
    assert "e.g. Ada Lovelace" in html  # the FULLNAME row shows its source's sample


# ---------------------------------------------------------------- refusing what the destination does not have


def test_an_unknown_dotdigital_field_is_refused_on_save_with_a_reason(as_role, accepted, dotdigital):
    response = post(as_role("admin"), accepted, "save", {"": {"source_field": "U_Segment", "target_field": "SEGMENT"}})
    html = response.content.decode()
    assert "Nothing was saved" in html and "The destination has no field &#x27;SEGMENT&#x27;" in html
    assert not FieldMapping.objects.filter(target_field="SEGMENT").exists()


def test_a_new_dotdigital_field_added_on_purpose_is_saved_and_created_before_the_push(as_role, accepted, dotdigital):
    new_row = {"": {"source_field": "U_Segment", "target_field": NEW_TARGET, "target_new": "SEGMENT"}}
    response = save(as_role("admin"), accepted, new_row)
    assert response.status_code == 302
    assert FieldMapping.objects.get(target_field="SEGMENT").source_field == "U_Segment"
    from esp.dotdigital.adapter import DotdigitalDestination
    from esp.mapping import field_specs, mappings_for
    from tests.esp.dotdigital_support import RecordingThrottle

    adapter = DotdigitalDestination(accepted.destination, RecordingThrottle())
    created = adapter.ensure_fields("customers", field_specs(mappings_for(destination=accepted.destination,
                                                                          entity="customers")))
    assert "SEGMENT" in created and dotdigital.state.field_named("SEGMENT") == "SEGMENT"


def test_a_new_field_must_be_named(as_role, accepted, dotdigital):
    response = post(as_role("admin"), accepted, "save", {"": {"source_field": "U_Segment",
                                                               "target_field": NEW_TARGET}})
    assert "Name the new field." in response.content.decode()


def test_a_declared_field_takes_the_type_dotdigital_gave_it(as_role, accepted, dotdigital):
    response = post(as_role("admin"), accepted, "save", {"": {"source_field": "U_LoyaltyTier",
                                                               "target_field": "LOYALTYPOINTS"}})
    assert "LOYALTYPOINTS is a Numeric data field in dotdigital" in response.content.decode()
    response = save(as_role("admin"), accepted, {"": {"source_field": "U_LoyaltyTier",
                                                       "target_field": "LOYALTYPOINTS", "target_type": "Numeric"}})
    assert response.status_code == 302


def test_an_ometria_property_is_added_by_name_and_validated(as_role):
    connection = ErpConnectionFactory()
    account = EspAccount.objects.create(name="om", kind="ometria", password_env="TEST_OMETRIA_API_KEY")
    mappings_install_defaults(destination=account)
    flow = Flow.objects.create(name="om-customers", connection=connection, destination=account)
    client = as_role("admin")
    html = client.get(url(flow)).content.decode()
    assert "New property…" in html and "firstname" in html
    bad = post(client, flow, "save", {"": {"source_field": "card_name", "target_field": NEW_TARGET,
                                           "target_new": "9 lives"}})
    assert "would be a custom property: use a letter first" in bad.content.decode()
    response = save(client, flow, {"": {"source_field": "card_name", "target_field": NEW_TARGET,
                                        "target_new": "nickname"}})
    assert response.status_code == 302 and FieldMapping.objects.filter(destination=account,
                                                                       target_field="nickname").exists()
    # Once mapped, the property is offered like a declared field.
    assert '<option value="nickname">nickname</option>' in client.get(url(flow)).content.decode()


# ---------------------------------------------------------------- transforms and their arguments


def test_first_and_last_name_from_card_name():
    split = TRANSFORMS["name_part"]
    assert split.apply("Ada Lovelace", "first") == "Ada" and split.apply("Ada Lovelace", "last") == "Lovelace"
    assert split.apply("Lovelace, Ada", "first") == "Ada" and split.apply(" Lovelace ,  Ada ", "last") == "Lovelace"
    assert split.apply("Ada King Lovelace", "last") == "King Lovelace"
    assert split.apply("Cher", "last") is None and split.apply("", "first") == "" and split.apply(None, "first") is None
    assert "first" in split.validate_arg("middle") and split.validate_arg("last") is None


def test_replacements_are_typed_one_a_line_and_read_as_values():
    assert pairs_parse("Y = true\r\nN = false\n\n* = NOT_SPECIFIED\n\"\" = null") == {
        "Y": True, "N": False, "__default__": "NOT_SPECIFIED", "": None}
    arg = {"Y": "EXPLICITLY_OPTEDIN", "1": "1", "N": 0}
    assert pairs_parse(pairs_text(arg)) == arg  # the text "1" stays text, 0 stays a number
    assert arg_from_inputs("default", {"arg_value": "Bronze"}) == "Bronze"
    assert arg_from_inputs("date", {"arg_format": " DD/MM/YYYY "}) == "DD/MM/YYYY"
    assert arg_from_inputs("upper", {"arg_value": "ignored"}) is None
    assert inputs_from_arg("map", {"Y": True}) == {"arg_pairs": "Y = true"}


def test_a_transform_argument_is_saved_from_its_own_input(as_role, accepted, dotdigital):
    changes = {"": {"source_field": "card_name", "target_field": "FIRSTNAME", "transform": "name_part",
                    "arg_part": "first"},
               "MARKETINGCONSENT": {"arg_pairs": "Y = true\r\nN = false\r\n* = false"}}
    assert save(as_role("admin"), accepted, changes).status_code == 302
    assert FieldMapping.objects.get(target_field="FIRSTNAME").transform_arg == "first"
    assert FieldMapping.objects.get(target_field="MARKETINGCONSENT").transform_arg == {
        "Y": True, "N": False, "__default__": False}


def test_a_replacement_line_without_equals_is_refused_next_to_its_input(as_role, accepted, dotdigital):
    response = post(as_role("admin"), accepted, "save", {"MARKETINGCONSENT": {"arg_pairs": "Y true"}})
    assert "Line 1 (&#x27;Y true&#x27;) has no &#x27;=&#x27;" in response.content.decode()


def test_the_named_transform_shapes_the_preview(as_role, accepted, dotdigital):
    changes = {"": {"source_field": "card_name", "target_field": "LASTNAME", "transform": "name_part",
                    "arg_part": "last"}}
    preview = post(as_role("admin"), accepted, "preview", changes, record="C002").context["preview"]
    assert preview.outcome.payload["LASTNAME"] == "Lovelace"


def test_browser_line_ends_in_an_unchanged_argument_are_no_change(as_role, accepted, dotdigital):
    FieldMapping.objects.filter(target_field="MARKETINGCONSENT").update(transform_arg={"Y": True, "N": False})
    response = post(as_role("admin"), accepted, "save", {"MARKETINGCONSENT": {"arg_pairs": "Y = true\r\nN = false"}})
    assert response.status_code == 302  # nothing changed: no impact to show, nothing saved


# ---------------------------------------------------------------- nobody saves blind


def test_save_shows_the_impact_first_and_saves_nothing(as_role, accepted, dotdigital):
    response = post(as_role("admin"), accepted, "save", {"FULLNAME": {"transform": "upper"}})
    assert response.status_code == 200
    impact = response.context["impact"]
    assert [item.result.resend for item in impact.flows] == [4] and impact.resend == 4
    html = response.content.decode()
    assert "Nothing is saved yet" in html and "4 records would be re-sent to" in html
    assert f'name="impact_seen" value="{response.context["impact_seen"]}"' in html
    assert FieldMapping.objects.get(target_field="FULLNAME").transform == "trim"


def test_an_impact_seen_for_another_set_does_not_let_a_save_through(as_role, accepted, dotdigital):
    client = as_role("admin")
    shown = post(client, accepted, "impact", {"FULLNAME": {"transform": "upper"}})
    response = post(client, accepted, "save", {"FULLNAME": {"transform": "lower"}},
                    impact_seen=shown.context["impact_seen"])
    assert response.status_code == 200 and "Nothing is saved yet" in response.content.decode()
    assert FieldMapping.objects.get(target_field="FULLNAME").transform == "trim"
    response = post(client, accepted, "save", {"FULLNAME": {"transform": "lower"}},
                    impact_seen=response.context["impact_seen"])
    assert response.status_code == 302 and FieldMapping.objects.get(target_field="FULLNAME").transform == "lower"


def test_the_impact_counts_each_flow_the_mappings_shape(as_role, accepted, dotdigital):
    other = ErpConnection.objects.create(name="second-company", base_url="http://127.0.0.1:1/b1s/v1",
                                         company_db="SECOND", username="manager", password_env="X")
    second = Flow.objects.create(name="second-customers", connection=other, destination=accepted.destination)
    connection_pull(connection=other, adapter=FakeSource([[bp_record("D001", name="Dora Dash")]]))
    outbox = sorted(OutboxItem.objects.values_list("flow_id", "record_key", "payload_hash", "status"))
    impact = post(as_role("admin"), accepted, "impact", {"FULLNAME": {"transform": "upper"}}).context["impact"]
    by_flow = {item.flow.pk: item.result for item in impact.flows}
    assert by_flow[accepted.pk].resend == 4 and by_flow[second.pk].resend == 1 and impact.resend == 5
    assert sorted(OutboxItem.objects.values_list("flow_id", "record_key", "payload_hash", "status")) == outbox


@pytest.mark.parametrize("role", ["marketing", "finance"])
def test_only_integration_admins_may_count_the_impact(as_role, accepted, role):
    response = as_role(role).post(url(accepted), {"action": "impact"})
    assert response.status_code == 403


def test_a_seen_impact_survives_a_preview_and_a_blank_row(as_role, accepted, dotdigital):
    client = as_role("admin")
    change = {"FULLNAME": {"transform": "upper"}}
    seen = post(client, accepted, "impact", change).context["impact_seen"]
    assert post(client, accepted, "preview", change, record="C001", impact_seen=seen).context["impact_seen"] == seen
    assert post(client, accepted, "add_row", change, impact_seen=seen).context["impact_seen"] == seen
    assert post(client, accepted, "save", change, impact_seen=seen).status_code == 302
