"""Configuration as code, complete (issue 14, part 5): the file carries everything an admin
edits in the browser, `apply_config --plan` says what would change before anything is
written, a round trip is byte-identical, and an apply is one audited transaction that
re-plans what it shapes."""
import pytest
import yaml
from django.core.management import CommandError, call_command
from django.db.models import F

from audit.models import AuditEntry
from erp.models import BusinessPartner
from esp.models import FieldMapping, OrderStatusMapping, SkuRule, WarehouseRule
from syncapp.models import Flow, OutboxItem, OutboxStatus
from syncapp.services import records_replan
from tests.factories import BusinessPartnerFactory, FlowFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def configured(flow):
    """A hub with every kind of browser-edited setting, and three accepted contacts."""
    WarehouseRule.objects.create(destination=flow.destination, channel="web", included_warehouses=["01", "02"],
                                 excluded_warehouses=["WHOLESALE"], availability="in_stock",
                                 low_stock_threshold=3)
    WarehouseRule.objects.create(destination=flow.destination, channel="")
    OrderStatusMapping.objects.create(destination=flow.destination, erp_status="dispatched",
                                      destination_status="shipped")
    SkuRule.objects.create(connection=flow.connection, strip_leading_zeros=False, case="keep",
                           prefix_map={"ERP-": ""})
    FlowFactory(name="orders-flow", connection=flow.connection, destination=flow.destination, entity="orders")
    for name in ("acme ltd", "north & co", "BIG CO"):
        BusinessPartnerFactory(connection=flow.connection, card_name=name)
    records_replan(flow=flow, record_keys=BusinessPartner.objects.values_list("card_code", flat=True))
    OutboxItem.objects.filter(flow=flow).update(status=OutboxStatus.ACCEPTED, accepted_hash=F("payload_hash"))
    return flow


def _export(tmp_path, name="hub.yaml") -> str:
    path = tmp_path / name
    call_command("export_config", "-o", str(path))
    return path.read_text()


def test_the_file_carries_warehouse_rules_sku_rules_and_order_status_names(configured, tmp_path):
    data = yaml.safe_load(_export(tmp_path))
    destination = data["destinations"][0]
    assert destination["warehouse_rules"] == [
        {"channel": "", "included_warehouses": [], "excluded_warehouses": [],
         "availability": "in_stock_minus_committed", "low_stock_threshold": 5.0},
        {"channel": "web", "included_warehouses": ["01", "02"], "excluded_warehouses": ["WHOLESALE"],
         "availability": "in_stock", "low_stock_threshold": 3.0}]
    assert destination["order_statuses"] == {"dispatched": "shipped"}
    assert data["connections"][0]["sku_rule"] == {"trim": True, "strip_leading_zeros": False, "case": "keep",
                                                  "prefix_map": {"ERP-": ""}, "suffix_map": {}}


def test_export_apply_export_is_byte_identical(configured, tmp_path):
    first = _export(tmp_path)
    call_command("apply_config", str(tmp_path / "hub.yaml"))
    assert _export(tmp_path, "again.yaml") == first


def test_a_file_applied_to_an_empty_hub_recreates_every_rule(configured, tmp_path):
    first = _export(tmp_path)
    WarehouseRule.objects.all().delete()
    OrderStatusMapping.objects.all().delete()
    SkuRule.objects.all().delete()
    call_command("apply_config", str(tmp_path / "hub.yaml"))
    assert _export(tmp_path, "again.yaml") == first


def _edited(tmp_path, edit) -> str:
    data = yaml.safe_load(_export(tmp_path))
    edit(data)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def _upper_names_and_ring_fence(data):
    destination = data["destinations"][0]
    for mapping in destination["mappings"]:
        if mapping["target_field"] == "FULLNAME":
            mapping["transform"] = "upper"
    destination["warehouse_rules"] = [rule for rule in destination["warehouse_rules"] if rule["channel"] != "web"]
    destination["order_statuses"]["cancelled"] = "void"
    data["connections"][0]["sku_rule"]["case"] = "upper"


def test_plan_prints_each_change_field_by_field_and_the_resend_count_and_writes_nothing(configured, tmp_path,
                                                                                       capsys):
    path = _edited(tmp_path, _upper_names_and_ring_fence)
    audit_before, outbox_before = AuditEntry.objects.count(), list(OutboxItem.objects.values_list("status", flat=True))

    call_command("apply_config", path, "--plan")

    out = capsys.readouterr().out
    name = configured.destination.name
    assert f"~ destination {name}: mappings / customers FULLNAME: transform: 'trim' -> 'upper'" in out
    assert f"- destination {name}: warehouse_rules / web:" in out
    assert f"+ destination {name}: order_statuses: cancelled: 'void'" in out
    assert f"~ connection {configured.connection.name}: sku_rule: case: 'keep' -> 'upper'" in out
    assert "1 added, 2 changed, 1 removed (nothing written)" in out
    # Only the two partners whose names are not all capitals get a different payload under "upper".
    assert f"flow {configured.name}: would send 2 records again" in out
    assert "flow orders-flow: would send 0 records again" in out
    assert FieldMapping.objects.get(destination=configured.destination, target_field="FULLNAME").transform == "trim"
    assert WarehouseRule.objects.filter(channel="web").exists()
    assert not OrderStatusMapping.objects.filter(erp_status="cancelled").exists()
    assert SkuRule.objects.get().case == "keep"
    assert AuditEntry.objects.count() == audit_before
    assert list(OutboxItem.objects.values_list("status", flat=True)) == outbox_before


def test_plan_of_the_hubs_own_export_says_nothing_would_change(configured, tmp_path, capsys):
    _export(tmp_path)
    call_command("apply_config", str(tmp_path / "hub.yaml"), "--plan")
    assert "No changes: the hub already matches the file." in capsys.readouterr().out


def test_an_apply_is_one_audited_change_that_replans_what_it_shapes(configured, tmp_path, monkeypatch,
                                                                     django_capture_on_commit_callbacks):
    from syncapp.tasks import flows_replan_task

    replanned = []
    monkeypatch.setattr(flows_replan_task, "delay", lambda ids: (replanned.append(sorted(ids)), flows_replan_task(ids)))
    path = _edited(tmp_path, _upper_names_and_ring_fence)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("apply_config", path)

    entries = AuditEntry.objects.filter(actor="system:apply_config")
    assert entries.count() == 4  # the mapping, the rule removed, the status added, the SKU rule
    assert entries.values("change_id").distinct().count() == 1
    orders_flow = Flow.objects.get(name="orders-flow")
    assert replanned == [sorted([configured.pk, orders_flow.pk])]  # customers (mapping), orders (a status name)
    assert OutboxItem.objects.filter(flow=configured, status=OutboxStatus.PENDING).count() == 2


def test_a_bad_rule_is_refused_and_nothing_is_applied(configured, tmp_path):
    def edit(data):
        data["destinations"][0]["mappings"][0]["transform_arg"] = "changed"
        data["destinations"][0]["order_statuses"]["shipped-ish"] = "x"
    path = _edited(tmp_path, edit)
    with pytest.raises(CommandError, match="shipped-ish is not an ERP order state"):
        call_command("apply_config", path)
    assert not FieldMapping.objects.filter(transform_arg="changed").exists()

    def bad_availability(data):
        data["destinations"][0]["warehouse_rules"][0]["availability"] = "whenever"
    with pytest.raises(CommandError, match="availability"):
        call_command("apply_config", _edited(tmp_path, bad_availability))
