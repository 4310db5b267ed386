"""Order rows' hashes cover what their destination receives (PlannedRecord.sent), no longer the
engine's whole payload. Rows whose payload is the one accepted get both hashes recomputed, so an
order is not sent again, unchanged, the first time it is planned after the upgrade; any other
row's payload is still on its way and goes anyway."""
from django.db import migrations

CHUNK = 2000


def hashes_as_sent(apps, schema_editor):
    from esp.registry import destination_record_view
    from syncapp.outbox import PlannedRecord, records_as_sent

    Flow = apps.get_model("syncapp", "Flow")
    OutboxItem = apps.get_model("syncapp", "OutboxItem")
    for flow in Flow.objects.select_related("destination").iterator():
        if destination_record_view(flow.destination.kind, flow.entity) is None:
            continue
        rows = OutboxItem.objects.filter(flow_id=flow.pk).only(
            "id", "record_key", "identifier", "payload", "payload_hash", "accepted_hash").order_by("id")
        for start in range(0, rows.count(), CHUNK):
            chunk = list(rows[start:start + CHUNK])
            planned = records_as_sent(flow=flow, records=[
                PlannedRecord(row.record_key, row.identifier, row.payload or {}) for row in chunk])
            for row, record in zip(chunk, planned, strict=True):
                if row.accepted_hash and row.accepted_hash == row.payload_hash:
                    row.accepted_hash = record.payload_hash
                row.payload_hash = record.payload_hash
            OutboxItem.objects.bulk_update(chunk, ["payload_hash", "accepted_hash"])


class Migration(migrations.Migration):
    dependencies = [("syncapp", "0017_run_outcome_keys_unchecked")]

    operations = [migrations.RunPython(hashes_as_sent, migrations.RunPython.noop)]
