from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "tnr.cases"
    verbose_name = "Cases and protection"
