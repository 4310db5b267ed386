"""Exceptions from before the note thread and the history table get both, from what
was kept: each single note becomes the first note of its thread (author unknown, dated
when the exception was last seen); the history gets "first failed", "failed again",
"resolved" from the exception's own fields, and people's actions from the admin log
entries the pages used to write. In slices, so a large table is never read at once.
The note field stays: it now says why the exception is in its current status."""
from django.db import migrations

SLICE = 2_000
_KIND_OF_LOG = (("Ignored", "ignored"), ("Retry requested", "retried"))


def _slices(queryset, *fields):
    last = 0
    while True:
        rows = list(queryset.filter(pk__gt=last).order_by("pk").values_list("pk", *fields)[:SLICE])
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def from_before(apps, schema_editor):
    from exceptions.reasons import reason_for  # plain constants: the titles people read

    SyncException = apps.get_model("exceptions", "SyncException")
    ExceptionNote = apps.get_model("exceptions", "ExceptionNote")
    ExceptionEvent = apps.get_model("exceptions", "ExceptionEvent")
    for rows in _slices(SyncException.objects.exclude(note=""), "note", "last_seen"):
        ExceptionNote.objects.bulk_create(
            [ExceptionNote(exception_id=pk, text=note, created_at=seen) for pk, note, seen in rows])
    for rows in _slices(SyncException.objects.all(), "reason_code", "first_seen", "last_seen", "attempts",
                        "resolved_at", "message"):
        events = []
        for pk, reason, first, last, attempts, resolved, message in rows:
            events.append(ExceptionEvent(exception_id=pk, kind="raised", at=first,
                                         text=f"First failed: {reason_for(reason).title}."))
            if attempts > 1:
                events.append(ExceptionEvent(exception_id=pk, kind="seen_again", at=last,
                                             text=f"Failed again (attempt {attempts}): {message[:300]}"))
            if resolved:
                events.append(ExceptionEvent(exception_id=pk, kind="resolved", at=resolved,
                                             text="Resolved: the record went through."))
        ExceptionEvent.objects.bulk_create(events)
    ContentType = apps.get_model("contenttypes", "ContentType")
    LogEntry = apps.get_model("admin", "LogEntry")
    content_type = ContentType.objects.filter(app_label="exceptions", model="syncexception").first()
    if content_type is None:
        return
    for rows in _slices(LogEntry.objects.filter(content_type=content_type), "object_id", "user_id", "action_time",
                        "change_message"):
        ids = {int(row[1]) for row in rows if row[1].isdigit()}
        existing = set(SyncException.objects.filter(pk__in=ids).values_list("pk", flat=True))
        ExceptionEvent.objects.bulk_create([
            ExceptionEvent(exception_id=int(object_id), actor_id=user_id, at=at, text=message[:1000],
                           kind=next((kind for prefix, kind in _KIND_OF_LOG if message.startswith(prefix)), "retried"))
            for _, object_id, user_id, at, message in rows
            if object_id.isdigit() and int(object_id) in existing])


def forget(apps, schema_editor):
    apps.get_model("exceptions", "ExceptionNote").objects.all().delete()
    apps.get_model("exceptions", "ExceptionEvent").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("exceptions", "0005_exception_workflow"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(from_before, forget),
    ]
