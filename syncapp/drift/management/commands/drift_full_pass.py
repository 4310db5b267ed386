"""`manage.py drift_full_pass [--flow NAME ...] [--user NAME] [--queue]`: read every sent
record of the flows back (all enabled flows by default) and compare, now in this
process, or as a task with --queue. With --user, the pass is recorded as that person's,
who must be allowed to edit the configuration (an integration admin)."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from syncapp.management.secrets import secrets_required
from syncapp.models import Flow
from syncapp.roles import user_can

from ...services import drift_full_pass_start, drift_pass_run
from ...tasks import drift_pass_enqueue


class Command(BaseCommand):
    help = "Read every record the hub sent back from its destination and compare it field by field."

    def add_arguments(self, parser):
        parser.add_argument("--flow", action="append", default=[], help="A flow's name (repeat for more).")
        parser.add_argument("--user", default="", help="Who asks (must be allowed to edit the configuration).")
        parser.add_argument("--queue", action="store_true", help="Run as a background task instead of now.")

    @secrets_required
    def handle(self, *args, flow: list[str], user: str, queue: bool, **options):
        person = None
        if user:
            person = get_user_model().objects.filter(username=user).first()
            if person is None or not user_can(person, "edit_configuration"):
                raise CommandError(f"{user!r} may not start a full pass (only integration admins may).")
        flows = Flow.objects.filter(enabled=True).order_by("name")
        if flow:
            flows = Flow.objects.filter(name__in=flow).order_by("name")
            unknown = sorted(set(flow) - set(flows.values_list("name", flat=True)))
            if unknown:
                raise CommandError(f"No flow named {', '.join(unknown)}.")
        for one in flows.select_related("connection", "destination"):
            drift_pass, created = drift_full_pass_start(flow=one, user=person)
            if queue:
                queued = created and drift_pass_enqueue(drift_pass.pk)
                self.stdout.write(f"{one.name}: full pass {'queued' if queued else drift_pass.get_status_display()}")
                continue
            drift_pass = drift_pass_run(drift_pass=drift_pass)
            note = f". {drift_pass.note}" if drift_pass.note else ""
            self.stdout.write(
                f"{one.name}: {drift_pass.get_status_display()}; {drift_pass.checked} checked, "
                f"{drift_pass.drifted} drifted ({drift_pass.requeued} sent again, {drift_pass.raised} raised for "
                f"marketing, {drift_pass.missing} missing at the destination){note}")
