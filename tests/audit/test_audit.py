"""The audit trail: every configuration change, by whom, when, before and after, whatever path made it."""
import json

import pytest
import yaml
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from audit.context import acting_as
from audit.models import AuditEntry
from audit.selectors import entries_for_object
from erp.models import ErpConnection
from esp.models import EspAccount, FieldMapping, OrderStatusMapping, SkuRule, WarehouseRule
from syncapp.models import Flow
from tests.factories import ErpConnectionFactory, EspAccountFactory, FieldMappingFactory, FlowFactory

pytestmark = pytest.mark.django_db


def entries(obj=None, **filters):
    queryset = AuditEntry.objects.order_by("id")
    if obj is not None:
        queryset = queryset.filter(content_type__model=obj._meta.model_name, object_id=str(obj.pk))
    return list(queryset.filter(**filters))


# model -> (make one, field to change, new value)
AUDITED = {
    "connection": (ErpConnectionFactory, "page_size", 250),
    "destination": (EspAccountFactory, "calls_per_minute", 900),
    "flow": (FlowFactory, "duplicate_policy", "merge"),
    "field mapping": (FieldMappingFactory, "transform", "upper"),
    "sku rule": (lambda: SkuRule.objects.create(connection=ErpConnectionFactory()), "case", "lower"),
    "warehouse rule": (lambda: WarehouseRule.objects.create(destination=EspAccountFactory()),
                       "excluded_warehouses", ["WHS-WHOLESALE"]),
    "order status mapping": (lambda: OrderStatusMapping.objects.create(
        destination=EspAccountFactory(), erp_status="open", destination_status="Open"), "destination_status",
        "Received"),
    "schedule": (lambda: PeriodicTask.objects.create(
        name="pull b1 business_partners", task="syncapp.connection_pull_task",
        interval=IntervalSchedule.objects.create(every=2, period="minutes")), "enabled", False),
    "interval": (lambda: IntervalSchedule.objects.create(every=2, period="minutes"), "every", 5),
    "crontab": (lambda: CrontabSchedule.objects.create(minute="0", hour="6"), "hour", "7"),
}


@pytest.mark.parametrize("kind", AUDITED)
def test_each_configuration_model_records_create_change_and_delete_with_before_and_after(kind):
    make, field, value = AUDITED[kind]
    with acting_as("system:test"):
        obj = make()
        old = getattr(obj, field)
        setattr(obj, field, value)
        obj.save()
        pk = obj.pk
        obj.delete()
    obj.pk = pk
    created, changed, deleted = entries(obj)
    assert [created.action, changed.action, deleted.action] == ["create", "update", "delete"]
    assert created.before is None and created.after[field] == old
    assert (changed.before[field], changed.after[field]) == (old, value)
    assert [change.field for change in changed.changes] == [field]
    assert deleted.before[field] == value and deleted.after is None
    assert {created.actor, changed.actor, deleted.actor} == {"system:test"}


def test_a_save_that_changes_nothing_records_nothing():
    connection = ErpConnectionFactory()
    connection.save()
    assert len(entries(connection)) == 1  # the create only


def test_a_schedules_run_bookkeeping_is_not_a_change():
    task = PeriodicTask.objects.create(name="sweep", task="syncapp.outbox_sweep_task",
                                       interval=IntervalSchedule.objects.create(every=1, period="minutes"))
    task.last_run_at, task.total_run_count = timezone.now(), 7
    task.save()  # what beat does after every run
    assert [entry.action for entry in entries(task)] == ["create"]


def test_secret_values_are_never_stored_only_the_variable_name(monkeypatch):
    monkeypatch.setenv("TEST_DOTDIGITAL_PASSWORD", "s3cret-value")
    account = EspAccountFactory(password_env="TEST_DOTDIGITAL_PASSWORD")
    account.api_user = "someone-else@apiconnector.com"
    account.save()
    stored = json.dumps([[entry.before, entry.after] for entry in AuditEntry.objects.all()])
    assert "s3cret-value" not in stored and "TEST_DOTDIGITAL_PASSWORD" in stored


def test_a_secret_looking_key_inside_a_json_field_is_hidden():
    rule = SkuRule.objects.create(connection=ErpConnectionFactory(), prefix_map={"ERP-": "", "api_token": "abc123"})
    (entry,) = entries(rule)
    assert entry.after["prefix_map"] == {"ERP-": "", "api_token": "(hidden)"}


def test_a_change_outside_any_request_or_command_is_by_the_system():
    connection = ErpConnectionFactory()
    assert entries(connection)[0].actor.startswith("system")


# ---------------------------------------------------------------- the admin path


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def admin_form_data(response, **changes) -> dict:
    """What the admin change form would post back, with `changes`."""
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = changes.get(name, form[name].value())
        if value is True:
            data[name] = "on"
        elif value not in (False, None):
            data[name] = value
    return data


@pytest.mark.parametrize("kind, changes", [
    ("flow", {"duplicate_policy": "most_recent"}),
    ("connection", {"page_size": 250}),
    ("destination", {"calls_per_minute": 900}),
])
def test_a_change_in_the_django_admin_is_recorded_with_the_user(admin_client, kind, changes):
    obj = AUDITED[kind][0]()
    url = f"/admin/{obj._meta.app_label}/{obj._meta.model_name}/{obj.pk}/change/"
    response = admin_client.post(url, admin_form_data(admin_client.get(url), **changes))
    assert response.status_code == 302, response.context["adminform"].form.errors
    entry = entries(obj, action="update")[0]
    assert entry.actor == "root" and entry.user.username == "root"
    field, value = next(iter(changes.items()))
    assert entry.after[field] == value and entry.before[field] != value


def test_a_delete_in_the_django_admin_is_recorded(admin_client):
    mapping = FieldMappingFactory(target_field="FULLNAME")
    url = f"/admin/esp/fieldmapping/{mapping.pk}/delete/"
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    entry = AuditEntry.objects.get(action="delete")
    assert entry.actor == "root" and entry.before["target_field"] == "FULLNAME"


def test_the_admin_change_form_shows_the_objects_history(admin_client):
    flow = FlowFactory()
    flow.duplicate_policy = "merge"
    with acting_as("system:apply_config"):
        flow.save()
    html = admin_client.get(f"/admin/syncapp/flow/{flow.pk}/change/").content.decode()
    assert "History" in html and "system:apply_config" in html and "reject_all → merge" in html


def test_a_destinations_admin_page_shows_the_history_of_its_mappings_too(admin_client):
    mapping = FieldMappingFactory(target_field="FULLNAME")
    html = admin_client.get(f"/admin/esp/espaccount/{mapping.destination_id}/change/").content.decode()
    assert "FULLNAME" in html and "Created" in html
    assert [entry.object_repr for entry in entries_for_object(mapping.destination)] == [
        str(mapping), str(mapping.destination)]


def test_models_without_history_show_no_panel(admin_client):
    from syncapp.models import SyncRun

    run = SyncRun.objects.create(kind="pull")
    html = admin_client.get(f"/admin/syncapp/syncrun/{run.pk}/change/").content.decode()
    assert "audit-history" not in html


def test_the_history_list_in_the_admin_opens(admin_client):
    ErpConnectionFactory()
    response = admin_client.get("/admin/audit/auditentry/")
    assert response.status_code == 200 and "b1-company" in response.content.decode()


# ---------------------------------------------------------------- apply_config


def config(**destination) -> dict:
    return {
        "version": 1,
        "connections": [{"name": "b1", "kind": "sap_b1", "base_url": "https://sap/b1s/v1", "company_db": "DB",
                         "username": "manager", "password_env": "B1_PASSWORD"}],
        "destinations": [{"name": "dd", "kind": "dotdigital", "api_user": "api@example.com",
                          "password_env": "DD_PASSWORD", **destination}],
        "flows": [{"name": "customers", "connection": "b1", "destination": "dd", "entity": "customers"}],
        "schedules": [{"connection": "b1", "entity": "business_partners", "every_minutes": 2}],
    }


def apply(tmp_path, data: dict) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(data))
    call_command("apply_config", str(path))


MAPPINGS = [{"entity": "customers", "source_field": "card_name", "target_field": "FULLNAME", "transform": "trim"},
            {"entity": "customers", "source_field": "cellular", "target_field": "MOBILE"}]


def test_apply_config_changes_are_by_system_apply_config(tmp_path):
    apply(tmp_path, config(mappings=MAPPINGS))
    created = {entry.content_type.model for entry in AuditEntry.objects.filter(action="create")}
    assert {"erpconnection", "espaccount", "flow", "fieldmapping", "periodictask", "intervalschedule"} <= created
    assert set(AuditEntry.objects.values_list("actor", flat=True)) == {"system:apply_config"}


def test_re_applying_a_file_records_only_what_it_changed(tmp_path):
    apply(tmp_path, config(mappings=MAPPINGS))
    first = AuditEntry.objects.latest("id").id
    apply(tmp_path, config(mappings=MAPPINGS))
    assert AuditEntry.objects.latest("id").id == first  # the same file again changes nothing
    changed = [{**MAPPINGS[0], "transform": "upper"}]  # FULLNAME reshaped, MOBILE dropped
    apply(tmp_path, config(mappings=changed, calls_per_minute=600))
    new = list(AuditEntry.objects.filter(id__gt=first).order_by("id"))
    summary = {(entry.content_type.model, entry.action, entry.object_repr) for entry in new}
    assert summary == {("espaccount", "update", "dd"), ("fieldmapping", "delete", "cellular -> MOBILE"),
                       ("fieldmapping", "update", "card_name -> FULLNAME")}
    update = next(entry for entry in new if entry.object_repr == "card_name -> FULLNAME")
    assert (update.before["transform"], update.after["transform"]) == ("trim", "upper")
    assert update.object_id == str(FieldMapping.objects.get().pk)  # changed in place, not re-created


def test_apply_config_records_the_flows_duplicate_policy(tmp_path):
    apply(tmp_path, config())
    data = config()
    data["flows"][0]["duplicate_policy"] = "prefer_customer"
    apply(tmp_path, data)
    entry = entries(Flow.objects.get(), action="update")[0]
    assert (entry.before["duplicate_policy"], entry.after["duplicate_policy"]) == ("reject_all", "prefer_customer")
    assert entry.actor == "system:apply_config"
    assert ErpConnection.objects.get().name == "b1" and EspAccount.objects.get().name == "dd"


def test_the_admins_default_mappings_action_is_audited_and_replans(admin_client, monkeypatch,
                                                                    django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr("syncapp.tasks.flows_replan_task.delay", queued.append)
    flow = FlowFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/esp/espaccount/", {
            "action": "install_default_mappings", "_selected_action": [flow.destination.pk]})
    assert response.status_code == 302
    created = entries(action="create", content_type__model="fieldmapping")
    assert created and all(entry.actor == "root" for entry in created)
    assert queued == [[flow.pk]]


def test_deleting_a_warehouse_rule_in_the_admin_replans_the_stock_flows(admin_client, monkeypatch,
                                                                       django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr("syncapp.tasks.flows_replan_task.delay", queued.append)
    flow = FlowFactory(entity="products")
    rule = WarehouseRule.objects.create(destination=flow.destination, excluded_warehouses=["WHS-2"])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/esp/warehouserule/{rule.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not WarehouseRule.objects.exists()
    assert queued == [[flow.pk]]
