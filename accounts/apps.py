from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Identities"

    def ready(self) -> None:
        from audit.registry import audit_register
        from audit.signals import audit_connect

        from . import schema, signals  # noqa: F401  (login signal receivers, the API auth scheme)

        # Who may do what is identity, audited like configuration. A password (and, since no
        # stored text holds a whole email address, the email) shows only as "(changed)"; the
        # last login changes on every login and is not a change anyone made.
        audit_register("auth.User", ignored=("last_login",), concealed=("password", "email"),
                       many=("groups", "user_permissions"))
        audit_register("auth.Group", many=("permissions",))
        # The digest never changes and is never shown; the last use changes on every call.
        audit_register("accounts.ApiToken", ignored=("digest", "last_used_at"))
        audit_connect()
