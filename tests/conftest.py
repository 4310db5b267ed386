"""Test-wide fixtures. Secrets come from the environment, as in production."""
import os

import pytest

os.environ.setdefault("TEST_SAP_B1_PASSWORD", "sandbox-b1-password")
os.environ.setdefault("TEST_DOTDIGITAL_PASSWORD", "sandbox-dd-password")


@pytest.fixture(autouse=True)
def _no_real_network_secrets(settings):
    settings.SANDBOXES_ENABLED = True
