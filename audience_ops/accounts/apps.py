from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "audience_ops.accounts"
    label = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from .roles import sync_role_groups

        # Groups and their permissions are code, not data: every migrate brings them in line.
        post_migrate.connect(sync_role_groups, dispatch_uid="accounts.sync_role_groups")
