from django.apps import AppConfig


class RecordsConfig(AppConfig):
    name = "tnr.records"
    verbose_name = "Incident records"
