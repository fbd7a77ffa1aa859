from typing import Any

from django.apps import AppConfig


def _sync_after_migrate(sender: Any, **kwargs: Any) -> None:
    from tnr.taxonomy.actions import sync_after_migrate

    sync_after_migrate(sender, **kwargs)


class TaxonomyConfig(AppConfig):
    name = "tnr.taxonomy"
    verbose_name = "Vocabularies"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        post_migrate.connect(_sync_after_migrate, sender=self)
