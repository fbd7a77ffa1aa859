from django.apps import AppConfig


class ReportingConfig(AppConfig):
    name = "tnr.reporting"
    label = "reporting"
    verbose_name = "Safe reporting"
