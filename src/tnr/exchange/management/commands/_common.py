"""Shared bits of the exchange commands: organisation lookup and progress bars."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from django.core.checks import Tags
from django.core.management.base import CommandError
from tqdm import tqdm

from tnr.accounts.models import Organisation

# The system checks a data command needs before it reads or writes records. The others (URL
# configuration above all) import every view of every app, and with them pandas and numpy:
# 1.4 s of CPU and 75 MB before the first row of a file is read.
DATA_COMMAND_CHECKS = [Tags.models, Tags.database]


def get_organisation(slug: str) -> Organisation:
    try:
        return Organisation.objects.get(slug=slug)
    except Organisation.DoesNotExist:
        known = ", ".join(Organisation.objects.values_list("slug", flat=True)) or "none yet"
        raise CommandError(f"no organisation {slug!r} (known: {known})") from None


def progress_bar(path: Path, quiet: bool) -> tuple[tqdm | None, Callable[[int], None] | None]:
    """A byte-based progress bar on stderr for long imports; none for small or quiet runs."""
    size = path.stat().st_size if path.exists() else 0
    if quiet or size < 2_000_000:
        return None, None
    unit = "rows" if path.suffix.lower() in {".xlsx", ".xlsm"} else "B"
    bar = tqdm(total=size if unit == "B" else None, unit=unit, unit_scale=True, file=sys.stderr, desc=path.name)
    return bar, bar.update
