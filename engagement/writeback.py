"""The engagement write-back: each contact's engagement into its Business Partner's user fields.

One run for one SAP B1 connection: import the dotdigital accounts' campaign activity (the
campaign report's own import, resumed where it stopped), work out each Business
Partner's values from the activity the hub holds (dotdigital's and Ometria's files), keep
those whose hash differs from what was last written, check the user fields exist (set-up,
once a day), and PATCH them, batched and paced. Written hashes are kept per partner, so
unchanged values cost no call; a partner SAP refuses becomes an exception with SAP's
reason, and Retry writes it again.

Why the next pull does not send the contact again: SAP stamps the partner's UpdateDate,
so the pull reads it back, but the engagement fields are not among the fields it reads
(`ownership` refuses a field the connection reads or a mapping sends), so the mirror
holds the same values and the planner's payload hash equals the one the destination
accepted: no outbox row, no call. The pull's extra cost is reading the written partners.
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta

from django.utils import timezone

from erp.models import BusinessPartner
from erp.sap_b1.client import ServiceLayerClient
from exceptions.models import Stage
from exceptions.services import exception_raise, exceptions_reopen, exceptions_resolve
from syncapp.adapters import TransportError
from syncapp.logging import redact_text

from .email_status import SUBSCRIBED, consent_changed_since, email_statuses
from .fields import WINDOW_MEASURES, FieldNamesInvalid, field_names
from .measures import contacts_with_recent_activity, engagement_by_email
from .models import WriteBackRun, WriteBackSettings, WrittenEngagement
from .ownership import ownership_conflicts
from .sap_writer import WriteResult, partner_path, partners_patch
from .setup import SetupRefused, user_fields_ensure

log = logging.getLogger(__name__)

ENTITY = "engagement"
FIELD_KEY = "field:"  # exceptions about a user field (set-up) are keyed "field:U_Name"
SETTINGS_KEY = "settings"
LOCK_NAME = "engagement_writeback"  # under the pull locks' names, apart from every entity's pull
SETUP_RECHECK = timedelta(hours=24)
CONSENT_LOOKBACK = timedelta(days=1)
RUNS_KEPT = timedelta(days=30)
CHUNK = 1000
NO_ACTIVITY = {"last_open": None, "last_click": None, "opens_30": 0, "opens_90": 0, "clicks_30": 0, "clicks_90": 0,
               "last_campaign": ""}


def writeback_settings_for(connection) -> WriteBackSettings:
    return WriteBackSettings.objects.get_or_create(connection=connection)[0]


def accounts_of(connection) -> list:
    """The marketing platforms this ERP connection feeds: their activity is its contacts'."""
    from esp.models import EspAccount

    return list(EspAccount.objects.filter(flows__connection=connection).distinct().order_by("name"))


def client_for(connection) -> ServiceLayerClient:
    return ServiceLayerClient(connection.base_url, connection.company_db, connection.username, connection.password(),
                              page_size=connection.page_size, timeout=connection.timeout_seconds,
                              verify_tls=connection.verify_tls)


def engagement_writeback(*, connection, client=None, throttle=None, now: datetime | None = None,
                         card_codes: list[str] | None = None, force: bool = False,
                         import_activity: bool | None = None, check_setup: bool = False) -> WriteBackRun | None:
    """One write-back run (see the module docstring). `card_codes` limits it to those
    partners; `force` writes them even when their values equal what was written (Retry);
    `check_setup` checks the user fields even when nothing is to be written.
    Never raises for SAP or a refused record: the run and the exceptions say what happened.
    None when another run of the connection is under way (one at a time, never waiting)."""
    from syncapp.locks import pull_lock

    with pull_lock(connection, LOCK_NAME) as acquired:
        if not acquired:
            return None
        return _writeback(connection=connection, client=client, throttle=throttle, now=now, card_codes=card_codes,
                          force=force, import_activity=import_activity, check_setup=check_setup)


def _writeback(*, connection, client, throttle, now, card_codes, force, import_activity,
               check_setup) -> WriteBackRun:
    settings = writeback_settings_for(connection)
    run = WriteBackRun.objects.create(connection=connection)
    try:
        names = field_names(settings.field_names)
    except FieldNamesInvalid as error:
        _setup_exception(connection, SETTINGS_KEY, "writeback_settings_invalid", str(error))
        return _stop(run, str(error))
    conflicts = ownership_conflicts(connection=connection, names=names)
    for name, why in conflicts.items():
        _setup_exception(connection, FIELD_KEY + name, "writeback_field_owned_by_erp", why)
    if conflicts:
        return _stop(run, " ".join(conflicts.values()))
    accounts = accounts_of(connection)
    if settings.import_activity if import_activity is None else import_activity:
        _activity_import(accounts)
    now = now or timezone.now()
    changes, missing = _changes(connection=connection, accounts=accounts, names=names, now=now,
                                card_codes=card_codes, force=force)
    if missing:
        exceptions_reopen(connection=connection, entity=ENTITY, reasons=dict.fromkeys(
            missing, "The Business Partner is not in the ERP's data the hub holds."))
    run.partners_changed = len(changes)
    if not changes and not check_setup:
        return _finish(run)
    own_client = client is None
    client = client or client_for(connection)
    try:
        if (force or check_setup or settings.fields_checked_at is None
                or settings.fields_checked_at < now - SETUP_RECHECK):
            run.fields_created = user_fields_ensure(client=client, names=names)
            settings.fields_checked_at = now
            settings.save(update_fields=["fields_checked_at"])
            _setup_resolve(connection)
        if throttle is None:
            from syncapp.ratelimit import throttle_for

            throttle = throttle_for(connection, settings.patches_per_minute)
        result = partners_patch(client=client, throttle=throttle, changes=changes, batch_size=settings.batch_size)
    except SetupRefused as refused:
        _setup_exception(connection, FIELD_KEY + refused.field, "writeback_field_type_differs", str(refused))
        return _stop(run, str(refused))
    except TransportError as error:
        if error.permanent:  # SAP refused the set-up itself (UserFieldsMD): a person must look
            _setup_exception(connection, SETTINGS_KEY, "writeback_setup_refused", str(error), answer=error.response)
        return _stop(run, str(error))
    finally:
        if own_client:
            client.logout()
    _record(connection=connection, run=run, result=result, changes=changes, names=names, now=now)
    if result.stopped is not None:
        return _stop(run, str(result.stopped))
    return _finish(run)


def writeback_runs_prune(*, keep: timedelta = RUNS_KEPT) -> int:
    """Remove runs older than `keep` (a run every 15 minutes is 96 rows a day per connection)."""
    return WriteBackRun.objects.filter(started_at__lt=timezone.now() - keep).delete()[0]


def engagement_retry(*, connection, record_keys: list[str]) -> None:
    """Retry from the exceptions page: a set-up problem runs the whole write-back again
    (set-up first); partners are written again now, even with unchanged values."""
    if any(key == SETTINGS_KEY or key.startswith(FIELD_KEY) for key in record_keys):
        engagement_writeback(connection=connection, check_setup=True)
    partners = [key for key in record_keys if key != SETTINGS_KEY and not key.startswith(FIELD_KEY)]
    if partners:
        engagement_writeback(connection=connection, card_codes=partners, force=True, import_activity=False)


# ------------------------------------------------------------------ what to write


def _changes(*, connection, accounts, names, now, card_codes, force) -> tuple[dict[str, dict], list[str]]:
    """CardCode -> values to write (those differing from what was written or refused), and
    the asked-for partners the mirror does not hold."""
    partners = _partners(connection=connection, accounts=accounts, now=now, card_codes=card_codes)
    missing = sorted(set(card_codes or ()) - set(partners))
    engagement = engagement_by_email(accounts=accounts, emails=set(partners.values()), now=now)
    statuses = email_statuses(connection=connection, card_codes=list(partners))
    held = {}
    codes = list(partners)
    for start in range(0, len(codes), CHUNK):
        held.update({code: (value_hash, refused_hash) for code, value_hash, refused_hash in
                     WrittenEngagement.objects.filter(connection=connection, card_code__in=codes[start:start + CHUNK])
                     .values_list("card_code", "value_hash", "refused_hash")})
    changes = {}
    for code, email in partners.items():
        measures = engagement.get(email)
        if measures is None and code not in held and not force and statuses[code] == SUBSCRIBED:
            continue  # no activity, nothing written before, nothing withdrawn: nothing to say
        values = values_for(names=names, measures=measures or NO_ACTIVITY, status=statuses[code])
        if force or values_hash(values) not in held.get(code, ()):
            changes[code] = values
    return changes, missing


def _partners(*, connection, accounts, now, card_codes) -> dict[str, str]:
    """CardCode -> normalised email of the partners whose values may have changed."""
    customers = BusinessPartner.objects.filter(connection=connection).exclude(card_type="supplier")
    found: dict[str, str] = {}
    if card_codes is not None:
        for start in range(0, len(card_codes), CHUNK):
            found.update(customers.filter(card_code__in=card_codes[start:start + CHUNK])
                         .values_list("card_code", "email_normalised"))
        return found
    emails = sorted(contacts_with_recent_activity(accounts=accounts, now=now))
    for start in range(0, len(emails), CHUNK):
        found.update(customers.filter(email_normalised__in=emails[start:start + CHUNK])
                     .values_list("card_code", "email_normalised"))
    again = [*WrittenEngagement.objects.filter(connection=connection, decays=True).values_list("card_code", flat=True),
             *consent_changed_since(connection=connection, since=_consent_since(connection, now))]
    for start in range(0, len(again), CHUNK):
        found.update(customers.filter(card_code__in=again[start:start + CHUNK])
                     .values_list("card_code", "email_normalised"))
    return found


def _consent_since(connection, now: datetime) -> datetime | None:
    """Consent read back since then may change a status without new activity: every state
    on the first run, afterwards a day's worth (re-checked each run; unchanged ones cost nothing)."""
    earlier = WriteBackRun.objects.filter(connection=connection).order_by("-started_at")[1:2]
    return now - CONSENT_LOOKBACK if earlier.exists() else None


def values_for(*, names: dict[str, str], measures: dict, status: str) -> dict:
    """The user field values of one partner, as SAP takes them (dates yyyy-mm-dd, whole numbers)."""
    values = {names[key]: measures[key] for key in NO_ACTIVITY}
    values[names["email_status"]] = status
    return values


def values_hash(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


# ------------------------------------------------------------------ what happened


def _record(*, connection, run: WriteBackRun, result: WriteResult, changes: dict[str, dict], names: dict[str, str],
            now) -> None:
    names_decaying = [names[key] for key in WINDOW_MEASURES]
    rows = [WrittenEngagement(connection=connection, card_code=code, values=changes[code],
                              value_hash=values_hash(changes[code]), refused_hash="", written_at=now,
                              decays=any(changes[code].get(name) for name in names_decaying))
            for code in result.written]
    WrittenEngagement.objects.bulk_create(
        rows, batch_size=CHUNK, update_conflicts=True, unique_fields=["connection", "card_code"],
        update_fields=["values", "value_hash", "refused_hash", "written_at", "decays"])
    exceptions_resolve(entity=ENTITY, record_keys=result.written, connection=connection)
    for code, refusal in result.refused.items():
        WrittenEngagement.objects.update_or_create(connection=connection, card_code=code,
                                                   defaults={"refused_hash": values_hash(changes[code])})
        exception_raise(
            connection=connection, entity=ENTITY, record_key=code, stage=Stage.PUSH, reason_code=refusal.reason_code,
            message=f"SAP did not take the email engagement written to Business Partner {code}: "
                    f"{refusal.sap_message}",
            destination_code=refusal.sap_code, source_payload=changes[code],
            last_request={"method": "PATCH", "path": partner_path(code), "body": changes[code]},
            last_response=refusal.answer)
    run.partners_written = len(result.written)
    run.partners_failed = len(result.refused)
    run.patches, run.calls = result.patches, result.calls
    run.save()


def _activity_import(accounts) -> None:
    """Campaign activity since each dotdigital account's last import (the campaign
    report's import: resumes a stopped one; one import per account at a time)."""
    from reports.campaigns.dotdigital_import import ImportInProgress, activity_import_dotdigital

    for account in accounts:
        if account.kind != "dotdigital":
            continue  # Ometria's engagement arrives as Email Events files (campaigns_import --ometria)
        try:
            job = activity_import_dotdigital(account=account)
        except ImportInProgress:
            continue  # its running import adds the touches; the next run writes them
        if job.status != job.Status.FINISHED:
            log.warning("Engagement write-back goes on with the activity held: %s's import stopped (%s)",
                        account.name, job.error)


def _setup_exception(connection, key: str, reason_code: str, message: str, answer=None) -> None:
    """A set-up problem: raised, and the set-up checked again by the next run that writes
    (which resolves it once the check passes)."""
    exception_raise(connection=connection, entity=ENTITY, record_key=key, stage=Stage.PLAN, reason_code=reason_code,
                    message=message, last_response=answer)
    WriteBackSettings.objects.filter(connection=connection).update(fields_checked_at=None)


def _setup_resolve(connection) -> None:
    """The set-up passed: every set-up exception of the connection is over (a field since
    renamed in the settings included)."""
    from exceptions.models import SyncException

    keys = SyncException.objects.filter(connection=connection, entity=ENTITY, flow__isnull=True,
                                        stage=Stage.PLAN).values_list("record_key", flat=True)
    exceptions_resolve(entity=ENTITY, record_keys=list(keys), connection=connection, stages=[Stage.PLAN])


def _stop(run: WriteBackRun, error: str) -> WriteBackRun:
    run.status, run.error, run.finished_at = WriteBackRun.Status.FAILED, redact_text(error)[:2000], timezone.now()
    run.save()
    return run


def _finish(run: WriteBackRun) -> WriteBackRun:
    run.status, run.finished_at = WriteBackRun.Status.FINISHED, timezone.now()
    run.save()
    return run
