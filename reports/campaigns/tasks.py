"""Thin Celery tasks: ids in, one service each."""
from __future__ import annotations

from celery import shared_task


@shared_task(name="campaigns.activity_import_task", ignore_result=True)
def campaign_activity_import_task(account_id: int) -> None:
    """Import a dotdigital account's campaign activity (resuming a stopped import), then
    attribute again so the report shows it."""
    from esp.models import EspAccount

    from .attribution import attribution_run
    from .dotdigital_import import ImportInProgress, activity_import_dotdigital

    try:
        activity_import_dotdigital(account=EspAccount.objects.get(pk=account_id))
    except ImportInProgress:
        return  # the running import attributes when it ends
    attribution_run()


@shared_task(name="campaigns.attribution_run_task", ignore_result=True)
def attribution_run_task() -> None:
    """Attribute every order afresh under the current settings."""
    from .attribution import attribution_run

    attribution_run()


@shared_task(name="campaigns.nightly_import_task", ignore_result=True)
def campaigns_nightly_import_task() -> None:
    """Every dotdigital account's activity since its last import, then one attribution:
    the campaign report is current when finance starts its day."""
    from esp.models import EspAccount

    from .attribution import attribution_run
    from .dotdigital_import import ImportInProgress, activity_import_dotdigital

    for account in EspAccount.objects.filter(kind="dotdigital").order_by("name"):
        try:
            activity_import_dotdigital(account=account)
        except ImportInProgress:
            continue  # that account's running import goes on; tonight's attribution uses what is in
    attribution_run()
