"""Order rows' hashes cover what their destination receives (PlannedRecord.sent), no longer the
engine's whole payload. Rows whose payload is the one accepted get both hashes recomputed, so an
order is not sent again, unchanged, the first time it is planned after the upgrade; any other
row's payload is still on its way and goes anyway."""
from django.db import migrations

CHUNK = 2000


def hashes_as_sent(apps, schema_editor):
    from esp.registry import destination_record_view
    from syncapp.adapters import PushItem
    from syncapp.outbox import PlannedRecord

    Flow = apps.get_model("syncapp", "Flow")
    OutboxItem = apps.get_model("syncapp", "OutboxItem")
    for flow in Flow.objects.select_related("destination").iterator():
        view = destination_record_view(flow.destination.kind, flow.entity)
        if view is None:
            continue
        changed = []
        for row in OutboxItem.objects.filter(flow_id=flow.pk).only(
                "id", "record_key", "identifier", "payload", "payload_hash", "accepted_hash").iterator(CHUNK):
            payload = row.payload or {}
            new = PlannedRecord(row.record_key, row.identifier, payload,
                                sent=view(PushItem(row.record_key, row.identifier, payload))).payload_hash
            if row.accepted_hash and row.accepted_hash == row.payload_hash:
                row.accepted_hash = new
            row.payload_hash = new
            changed.append(row)
            if len(changed) >= CHUNK:
                OutboxItem.objects.bulk_update(changed, ["payload_hash", "accepted_hash"])
                changed = []
        OutboxItem.objects.bulk_update(changed, ["payload_hash", "accepted_hash"])


class Migration(migrations.Migration):
    dependencies = [("syncapp", "0017_run_outcome_keys_unchecked")]

    operations = [migrations.RunPython(hashes_as_sent, migrations.RunPython.noop)]
