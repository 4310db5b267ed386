from django.apps import AppConfig


class SapEccConfig(AppConfig):
    """SAP ECC as a source: IDocs received, stored first, applied in order into the mirror."""

    name = "erp.sap_ecc"
    label = "sap_ecc"
    verbose_name = "SAP ECC IDocs"
    default_auto_field = "django.db.models.BigAutoField"
