"""``flush`` that can empty the append-only audit tables.

Django's ``flush`` deletes every row of every table; on SQLite it does so with ``DELETE``,
which the audit log's triggers refuse (``tnr.core.models``). Flushing is the one sanctioned
way to erase the audit log, together with everything else (test teardown, a development
database): this drops the triggers for the flush and puts them back afterwards, whatever
happens. On PostgreSQL flush uses ``TRUNCATE``, which row triggers do not see.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import flush
from django.db import connections

from tnr.core.models import install_append_only_guards, remove_append_only_guards


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        connection = connections[options["database"]]
        if connection.vendor != "sqlite":
            super().handle(**options)
            return
        remove_append_only_guards(connection)
        try:
            super().handle(**options)
        finally:
            install_append_only_guards(connection)
