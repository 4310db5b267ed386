"""Issue 14, defect 7: conflict cards show each partner's real orders, value and consent."""
from decimal import Decimal

import pytest

from tests.factories import BusinessPartnerFactory, ErpConnectionFactory
from tests.web.factories import DuplicateEmailConflictFactory, SalesOrderFactory

pytestmark = pytest.mark.django_db


def test_a_conflict_card_shows_orders_value_and_consent_per_partner(as_role):
    connection = ErpConnectionFactory()
    for code, consent in (("C1", "Y"), ("C2", "N")):
        BusinessPartnerFactory(connection=connection, card_code=code, email="x@example.com",
                               email_normalised="x@example.com", udfs={"U_MarketingConsent": consent})
    SalesOrderFactory(connection=connection, card_code="C1", doc_total=Decimal("120.00"),
                      doc_total_local=Decimal("120.00"), vat_total_local=Decimal("20.00"))
    SalesOrderFactory(connection=connection, card_code="C1", doc_total=Decimal("60.00"),
                      doc_total_local=Decimal("60.00"), vat_total_local=Decimal("10.00"))
    DuplicateEmailConflictFactory(connection=connection, email_normalised="x@example.com", card_codes=["C1", "C2"])
    response = as_role("marketing").get("/conflicts/")
    partners = response.context["conflicts"][0].partners
    assert [(p.card_code, p.orders, p.lifetime_value, p.consent) for p in partners] == [
        ("C1", 2, 150.0, "Y"), ("C2", 0, 0.0, "N")]
    html = response.content.decode()
    assert "Marketing consent" in html and "Lifetime value" in html and "150.00" in html
