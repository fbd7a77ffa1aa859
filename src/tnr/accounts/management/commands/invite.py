"""``tnr invite ORG`` — print a one-time invitation link (e.g. for an organisation's first
administrator). No e-mail is sent: pass the link on through a channel you trust.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from tnr.accounts.actions import INVITATION_DAYS, AccountsError, invite_from_command_line
from tnr.accounts.models import Organisation, Role


class Command(BaseCommand):
    help = "Print a one-time link that invites someone to an organisation with a role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("organisation", help="the organisation's slug")
        parser.add_argument("--role", choices=Role.values, default=Role.ADMINISTRATOR)
        parser.add_argument("--days", type=int, choices=INVITATION_DAYS, default=3)
        parser.add_argument(
            "--site", default="", help="the staff site's address, e.g. https://tnr.example.org"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        organisation = Organisation.objects.filter(slug=options["organisation"]).first()
        if organisation is None:
            known = ", ".join(Organisation.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(
                f"No organisation with slug {options['organisation']!r} (known: {known}). "
                "Create it in the admin first."
            )
        try:
            invitation, token = invite_from_command_line(organisation, options["role"], options["days"])
        except AccountsError as error:
            raise CommandError(str(error)) from None
        path = reverse("accounts:accept-invitation", args=[token])
        self.stdout.write(f"{options['site'].rstrip('/')}{path}")
        self.stderr.write(
            f"Invitation to {organisation} as {invitation.get_role_display()}, valid until "
            f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC. It works once; it is not shown again."
        )
        if options["role"] == Role.ADMINISTRATOR and not hasattr(organisation, "org_key"):
            self.stderr.write(
                "The organisation has no key yet: once they have joined, the administrator is "
                "taken to set it up and is shown its recovery key once (docs/keys.md)."
            )
