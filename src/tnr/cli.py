"""The ``tnr`` command: Django's management commands under the project's settings.

``tnr simulate``, ``tnr import``, ``tnr export``, ``tnr validate``, ``tnr demo`` and every
Django command (``tnr migrate``, ``tnr runserver``...) run through one entry point, so the
CLI, the web app and the tests share the same actions.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tnr.settings")
    from django.core.management import execute_from_command_line

    args = list(sys.argv if argv is None else ["tnr", *argv])
    args[0] = "tnr"
    execute_from_command_line(args)


if __name__ == "__main__":
    main()
