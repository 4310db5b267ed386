"""The database cache's table, so that plain `migrate` is enough without Redis: the login
and API-token throttles count there (settings.CACHES). With Redis it is made and unused."""
from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations

TABLE = "accounts_cache"  # settings.CACHES["default"]["LOCATION"] without Redis


def cache_table_create(apps, schema_editor):
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, TABLE, False)  # skips a table already there


def cache_table_drop(apps, schema_editor):
    if TABLE in schema_editor.connection.introspection.table_names():
        schema_editor.execute(f"DROP TABLE {schema_editor.quote_name(TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_api_tokens")]

    operations = [migrations.RunPython(cache_table_create, cache_table_drop)]
