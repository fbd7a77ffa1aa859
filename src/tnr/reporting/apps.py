from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _secure_delete(sender: object, connection: object, **kwargs: object) -> None:
    """On SQLite, overwrite deleted content with zeros, so a purged report is really gone from
    the database file and not merely marked free (PostgreSQL reuses space on VACUUM)."""
    if getattr(connection, "vendor", None) == "sqlite":
        with connection.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute("PRAGMA secure_delete = ON")


class ReportingConfig(AppConfig):
    name = "tnr.reporting"
    label = "reporting"
    verbose_name = "Safe reporting"

    def ready(self) -> None:
        connection_created.connect(_secure_delete, dispatch_uid="tnr.reporting.secure_delete")
        from django.conf import settings

        from tnr.reporting import receipts

        receipts.configure_slots(settings.TNR_RECEIPT_KDF_SLOTS)
