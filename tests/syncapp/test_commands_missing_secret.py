"""A command that talks to the ERP run without the connection's secret in its environment
says which variable to export, in one line (a CommandError), instead of a traceback."""
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from esp.default_mappings import mappings_install_defaults
from tests.factories import ErpConnectionFactory, FlowFactory


@pytest.mark.parametrize("command, arguments", [
    ("sync", ["--once", "--no-progress"]),
    ("backfill", ["--entity", "customers", "--no-progress"]),
])
def test_a_missing_erp_password_is_one_line_naming_the_variable(db, monkeypatch, command, arguments):
    monkeypatch.delenv("HUB_TEST_MISSING_PASSWORD", raising=False)
    connection = ErpConnectionFactory(password_env="HUB_TEST_MISSING_PASSWORD")
    flow = FlowFactory(connection=connection)
    mappings_install_defaults(destination=flow.destination)
    with pytest.raises(CommandError, match=r"HUB_TEST_MISSING_PASSWORD is not set\. Export it"):
        call_command(command, *arguments)
