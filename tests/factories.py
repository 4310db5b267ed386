"""factory-boy factories shared by the tests of every room."""
import factory

from erp.models import BusinessPartner, ErpConnection
from esp.models import EspAccount, FieldMapping
from syncapp.models import Flow


class ErpConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ErpConnection
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"b1-company-{n}")
    kind = "sap_b1"
    base_url = "http://127.0.0.1:1/b1s/v1"
    company_db = "SBODEMOGB"
    username = "manager"
    password_env = "TEST_SAP_B1_PASSWORD"
    page_size = 100


class EspAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EspAccount
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"dotdigital-{n}")
    kind = "dotdigital"
    region = "r1"
    api_user = "apiuser-test@apiconnector.com"
    password_env = "TEST_DOTDIGITAL_PASSWORD"


class FieldMappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FieldMapping

    destination = factory.SubFactory(EspAccountFactory)
    entity = "customers"
    source_field = "card_name"
    target_field = factory.Sequence(lambda n: f"FIELD{n}")


class FlowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Flow

    name = factory.Sequence(lambda n: f"flow-{n}")
    connection = factory.SubFactory(ErpConnectionFactory)
    destination = factory.SubFactory(EspAccountFactory)
    entity = "customers"


class BusinessPartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BusinessPartner

    connection = factory.SubFactory(ErpConnectionFactory)
    card_code = factory.Sequence(lambda n: f"C{n:05d}")
    card_name = factory.Faker("company")
    card_type = "customer"
    email = factory.LazyAttribute(lambda o: f"{o.card_code.lower()}@example.com")
    email_normalised = factory.LazyAttribute(lambda o: o.email.strip().lower())
    content_hash = factory.Sequence(lambda n: f"{n:064d}")
