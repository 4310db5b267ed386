"""Keys of DRF's old authtoken table become hashed ApiTokens, so deployed clients (the web
shop) keep working with the key they have; the plain-text keys are then deleted.

The authtoken app is no longer installed, so its table is read with SQL, and only when it
exists (a database made before this change). A copied token expires SYNC_API_TOKEN_DAYS after
the migration: rotate it before then, at /account/tokens/ or in the admin.
"""
import hashlib
from datetime import UTC, timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone
from django.utils.dateparse import parse_datetime

OLD_TABLE = "authtoken_token"


def _aware(value):
    """The old row's `created`: SQLite may hand back text or a naive UTC time."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is None:
        return timezone.now()
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value


def authtoken_keys_copy(apps, schema_editor):
    connection = schema_editor.connection
    if OLD_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("accounts", "ApiToken")
    table = schema_editor.quote_name(OLD_TABLE)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {schema_editor.quote_name('key')}, created, user_id FROM {table}")
        rows = cursor.fetchall()
    expires_at = timezone.now() + timedelta(days=settings.SYNC_API_TOKEN_DAYS)
    for key, created, user_id in rows:
        digest = hashlib.sha256(key.encode()).hexdigest()
        if not ApiToken.objects.filter(digest=digest).exists():
            ApiToken.objects.create(user_id=user_id, name="Token from before hashing", prefix=key[:8],
                                    digest=digest, created_at=_aware(created), expires_at=expires_at)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")  # no key stays readable in plain text


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_strip_identity_permissions_from_integration_admins")]

    operations = [migrations.RunPython(authtoken_keys_copy, migrations.RunPython.noop)]
