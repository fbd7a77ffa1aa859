from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_otp.oath import totp

from tnr.core.management.commands.demo import demo_logins_path


class Command(BaseCommand):
    help = "Print the current second-factor code of a demo user (development installations only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        # A real installation has no shared secrets on disk: refuse anywhere but development.
        if settings.TNR_ENV != "development":
            raise CommandError("demo-code works only with TNR_ENV=development")
        path = demo_logins_path()
        if not path.exists():
            raise CommandError("no demo logins here: run `tnr demo` first")
        info = json.loads(path.read_text(encoding="utf-8")).get(options["username"])
        if not isinstance(info, dict) or "totp_hex" not in info:
            raise CommandError(f"{options['username']!r} is not a demo user with an authenticator")
        self.stdout.write(f"{totp(bytes.fromhex(info['totp_hex'])):06d}")
