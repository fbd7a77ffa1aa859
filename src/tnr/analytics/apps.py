from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "tnr.analytics"
    label = "analytics"
    verbose_name = "Analytics, linkage and estimation"
