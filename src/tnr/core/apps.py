from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "tnr.core"
    verbose_name = "Core"
