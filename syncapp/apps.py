from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SyncappConfig(AppConfig):
    name = "syncapp"
    verbose_name = "Sync engine"

    def ready(self) -> None:
        from .admin_access import admin_access_install, integration_admin_permissions_grant

        admin_access_install()  # only Integration admins (and superusers) use the Django admin
        post_migrate.connect(integration_admin_permissions_grant, dispatch_uid="integration_admin_permissions")
