from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    name = "tnr.exchange"
    verbose_name = "Import and export"
