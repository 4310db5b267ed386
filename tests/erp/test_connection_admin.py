"""The connection's admin form: a Service Layer address typed without a scheme."""
from django.contrib.admin.sites import site

from erp.models import ErpConnection


def test_a_service_layer_address_without_a_scheme_is_read_as_https(rf, admin_user):
    request = rf.get("/admin/erp/erpconnection/add/")
    request.user = admin_user
    form = site._registry[ErpConnection].get_form(request)

    assert form.base_fields["base_url"].clean("sap.example.com/b1s/v1") == "https://sap.example.com/b1s/v1"
