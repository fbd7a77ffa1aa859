"""``tnr keys`` — organisation keys from the command line (docs/keys.md).

    tnr keys status [--organisation SLUG]
    tnr keys init --organisation SLUG --username ADMIN      # set up; prints the recovery key once
    tnr keys recover --organisation SLUG --username U       # lost password: new one via the recovery key
    tnr keys rotate --organisation SLUG                     # replace the key pair; new recovery key

Secrets (passwords, recovery keys) are asked for without echo and never taken as arguments,
which would leave them in the shell history and the process list.
"""

from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tnr.accounts import keys
from tnr.accounts.models import Membership, Organisation, OrganisationKey


class Command(BaseCommand):
    help = "Organisation keys: status, set-up, password recovery with the recovery key, rotation."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        status = sub.add_parser("status", help="which organisations have a key, and who has access")
        status.add_argument("--organisation", help="only this organisation (slug)")
        init = sub.add_parser("init", help="create an organisation's key; prints its recovery key once")
        init.add_argument("--organisation", required=True)
        init.add_argument("--username", required=True, help="an administrator of the organisation")
        recover = sub.add_parser("recover", help="set a new password for a member, with the recovery key")
        recover.add_argument("--organisation", required=True)
        recover.add_argument("--username", required=True)
        rotate = sub.add_parser("rotate", help="replace the key pair and re-seal everything (needs the recovery key)")
        rotate.add_argument("--organisation", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "status":
            self._status(options.get("organisation"))
            return
        organisation = _organisation(options["organisation"])
        try:
            getattr(self, f"_{action}")(organisation, options)
        except keys.KeysError as error:
            raise CommandError(str(error)) from None

    def _status(self, slug: str | None) -> None:
        organisations = [_organisation(slug)] if slug else list(Organisation.objects.order_by("slug"))
        for organisation in organisations:
            org_key = OrganisationKey.objects.filter(organisation=organisation).first()
            if org_key is None:
                self.stdout.write(f"{organisation.slug}: no key yet (tnr keys init --organisation {organisation.slug} --username ADMIN)")
                continue
            memberships = list(organisation.memberships.select_related("user").order_by("user__username"))
            states = keys.member_key_states(memberships)
            self.stdout.write(
                f"{organisation.slug}: key {keys.fingerprint(org_key.public_key)}, created "
                f"{org_key.created_at:%Y-%m-%d}, recovery key made {org_key.recovery_key_made_at:%Y-%m-%d}"
            )
            for m in memberships:
                self.stdout.write(f"  {m.user.get_username():<20} {m.role:<14} {states[m.pk].state}")

    def _init(self, organisation: Organisation, options: dict[str, Any]) -> None:
        user = _member(organisation, options["username"])
        password = None
        if not hasattr(user, "user_key"):
            password = getpass.getpass(f"Password of {user.get_username()} (to make their personal key): ")
            if not user.check_password(password):
                raise CommandError("That is not their password.")
        text = keys.create_organisation_keys(organisation, user, password=password)
        self._print_recovery_key(organisation, text)

    def _recover(self, organisation: Organisation, options: dict[str, Any]) -> None:
        user = _member(organisation, options["username"])
        recovery_key = getpass.getpass(f"Recovery key of {organisation.slug}: ")
        keys.private_from_recovery_key(organisation, recovery_key)  # fail before asking more
        password = getpass.getpass(f"New password for {user.get_username()}: ")
        if getpass.getpass("The new password again: ") != password:
            raise CommandError("The two passwords are not the same; nothing was changed.")
        try:
            password_validation.validate_password(password, user)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        keys.recover_with_recovery_key(organisation, user, recovery_key, password)
        self.stdout.write(
            f"New password set for {user.get_username()} in {organisation.slug}; their sessions have "
            "ended. Copies of other organisations' keys they had must be granted again."
        )

    def _rotate(self, organisation: Organisation, options: dict[str, Any]) -> None:
        from tnr.records.identity import rotate_organisation_key

        recovery_key = getpass.getpass(f"Current recovery key of {organisation.slug}: ")
        text, count = rotate_organisation_key(organisation, recovery_key)
        self.stdout.write(f"{count} sealed identities re-sealed; members' copies re-granted; their sessions ended.")
        self._print_recovery_key(organisation, text)

    def _print_recovery_key(self, organisation: Organisation, text: str) -> None:
        self.stdout.write(f"Recovery key of {organisation.slug} (shown only now — print it or write it down):")
        self.stdout.write(f"\n    {text}\n")
        self.stdout.write(
            "Without it, a lost password means sealed data stay sealed. Keep it offline, apart "
            "from anyone's password."
        )


def _organisation(slug: str) -> Organisation:
    organisation = Organisation.objects.filter(slug=slug).first()
    if organisation is None:
        raise CommandError(f"No organisation with slug {slug!r}.")
    return organisation


def _member(organisation: Organisation, username: str) -> Any:
    user = get_user_model().objects.filter(username=username).first()
    if user is None or not Membership.objects.filter(user=user, organisation=organisation).exists():
        raise CommandError(f"{username!r} is not a member of {organisation.slug}.")
    return user
