"""Generated Business Partners (any unicode, surrogates and NUL included, any length, nulls,
wrong types in every field) through conversion, ingest and planning, in process: nothing
raises, and every record ends in the mirror or as an open exception."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erp.models import BusinessPartner
from erp.record_checks import storable_key
from erp.sap_b1.payloads import to_source_record
from esp.default_mappings import mappings_install_defaults
from exceptions.models import SyncException
from syncapp.adapters import SourceBatch
from syncapp.models import Flow, OutboxItem, SourceCursor
from syncapp.services import connection_pull
from tests.erp.conftest import partner
from tests.factories import ErpConnectionFactory, EspAccountFactory

pytestmark = pytest.mark.django_db

FIELDS = ("CardCode", "CardName", "CardType", "GroupCode", "EmailAddress", "Phone1", "Phone2", "Cellular",
          "Currency", "Valid", "Frozen", "CreateDate", "CreateTime", "UpdateDate", "UpdateTime", "BPAddresses",
          "U_LoyaltyTier", "U_MarketingConsent", "U_Birthday")

any_text = st.text(st.characters(exclude_categories=()), max_size=400)  # surrogates and NUL included
scalars = st.one_of(st.none(), any_text, st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
                    st.floats(allow_nan=True, allow_infinity=True), st.booleans())
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(any_text, inner, max_size=3)), max_leaves=8)
field_values = st.one_of(
    json_values,
    st.sampled_from(["cCustomer", "cLid", "cSupplier", "tYES", "tNO", "2026-11-22", "14:32:11", ""]),
    st.text(max_size=20).map(lambda s: f"{s}@example.com"),
    st.integers(min_value=1, max_value=400).map(lambda n: "x" * n * 10),  # around every column limit
    st.lists(st.dictionaries(st.sampled_from(["AddressType", "City", "ZipCode", "Street"]), json_values,
                             max_size=4), max_size=2),
)
# A well-formed partner with any of its fields replaced by anything.
partners = st.builds(
    lambda code, changes: partner(code) | changes,
    st.one_of(st.from_regex(r"C[0-9]{1,3}", fullmatch=True), any_text),
    st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=6),
)


class _Pages:
    """A source adapter handing over one page of raw Service Layer rows, converted as
    the SAP B1 adapter converts them."""

    def __init__(self, rows):
        self.rows = rows

    def read_changes(self, entity, cursor):
        yield SourceBatch(records=[to_source_record(row) for row in self.rows], cursor={"updated_at": None})


@pytest.fixture
def flow():
    account = EspAccountFactory()
    mappings_install_defaults(destination=account)
    return Flow.objects.create(name="customers", connection=ErpConnectionFactory(), destination=account)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                     HealthCheck.too_slow])
@given(rows=st.lists(partners, min_size=1, max_size=5))
def test_any_business_partner_ends_in_the_mirror_or_as_an_exception_and_nothing_raises(flow, rows):
    for model in (BusinessPartner, SyncException, OutboxItem, SourceCursor):
        model.objects.all().delete()
    run = connection_pull(connection=flow.connection, adapter=_Pages(rows))
    assert run.status != "failed", run.error

    mirrored = set(BusinessPartner.objects.values_list("card_code", flat=True))
    open_keys = set(SyncException.objects.filter(status="open").values_list("record_key", flat=True))
    for row in rows:
        record = to_source_record(row)
        if record.key:
            assert record.key in mirrored or storable_key(record.key) in open_keys, record.key
        else:
            assert any(key.startswith("(no key)") for key in open_keys)
    # Whatever reached the mirror is either queued for the destination, refused with a reason, or not a
    # customer at all (suppliers and leads are not sent by this flow).
    queued = set(OutboxItem.objects.values_list("record_key", flat=True))
    for code, card_type in BusinessPartner.objects.values_list("card_code", "card_type"):
        assert code in queued or code in open_keys or card_type != "customer", code
