from django.apps import AppConfig


class SyncappConfig(AppConfig):
    name = "syncapp"
    verbose_name = "Sync engine"
