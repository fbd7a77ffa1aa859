from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "tnr.accounts"
    verbose_name = "Organisations and members"
