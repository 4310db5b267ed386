"""Factories for the web tests: exceptions, conflicts, orders and users per role."""
import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from erp.models import SalesOrder
from exceptions.models import DuplicateEmailConflict, SyncException
from tests.factories import ErpConnectionFactory, FlowFactory


class UserFactory(factory.django.DjangoModelFactory):
    """A user in one role group (`role=None` for a user with no role)."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get_or_create(name=extracted)[0])


class SyncExceptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncException

    flow = factory.SubFactory(FlowFactory)
    connection = factory.LazyAttribute(lambda o: o.flow.connection if o.flow else ErpConnectionFactory())
    entity = "customers"
    record_key = factory.Sequence(lambda n: f"K{n:06d}")
    stage = "plan"
    reason_code = "invalid_email"
    message = "The email address in the ERP is not a valid address."
    owner_team = "marketing"


class DuplicateEmailConflictFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DuplicateEmailConflict

    connection = factory.SubFactory(ErpConnectionFactory)
    email_normalised = factory.Sequence(lambda n: f"shared{n}@example.com")
    card_codes = factory.List(["C1", "C2"])


class SalesOrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SalesOrder

    connection = factory.SubFactory(ErpConnectionFactory)
    doc_entry = factory.Sequence(lambda n: 1000 + n)
    card_code = "C1"
    content_hash = factory.Sequence(lambda n: f"{n:064d}")
