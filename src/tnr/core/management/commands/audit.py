"""``tnr audit verify|export|anchor``: check, export and anchor the audit log.

    tnr audit verify                                  # every chain; exit 1 if any is broken
    tnr audit verify --organisation alpha --anchor 1200:9f2c…
    tnr audit verify --file alpha-audit.jsonl         # an exported chain, no database needed
    tnr audit export --organisation alpha --format jsonl --output alpha-audit.jsonl
    tnr audit anchor                                  # print each chain's head to write down
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tnr.accounts.models import Organisation
from tnr.core import audit
from tnr.core.audithash import Anchor
from tnr.core.choices import AuditAction


def _anchor(text: str) -> Anchor:
    try:
        return Anchor.parse(text)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


class Command(BaseCommand):
    help = "Verify, export or anchor the tamper-evident audit log."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="verify|export|anchor")

        def chain_options(p: CommandParser, required: bool = False) -> None:
            group = p.add_mutually_exclusive_group(required=required)
            group.add_argument("--organisation", "-o", metavar="SLUG", help="the organisation's chain")
            group.add_argument(
                "--installation", action="store_true",
                help="the installation's chain (events that belong to no organisation)",
            )

        p_verify = sub.add_parser("verify", help="check that no entry was altered, deleted or reordered")
        chain_options(p_verify)
        p_verify.add_argument(
            "--anchor", action="append", default=[], metavar="SEQ:HASH",
            help="a head printed earlier by `tnr audit anchor` (repeatable); proves the chain was "
            "not cut short or rewritten since",
        )
        p_verify.add_argument("--file", type=Path, help="verify an exported file (csv or jsonl) instead of the database")
        p_verify.add_argument(
            "--jobs", type=int, default=min(os.cpu_count() or 1, 4), metavar="N",
            help="worker processes for long chains (default: one per core, at most 4)",
        )

        p_export = sub.add_parser("export", help="write a whole chain, with its hashes, as CSV or JSON lines")
        chain_options(p_export, required=True)
        p_export.add_argument("--format", choices=["csv", "jsonl"], default="jsonl")
        p_export.add_argument("--output", type=Path, help="file to write (default: standard output)")

        p_anchor = sub.add_parser("anchor", help="print each chain's head (seq:hash) to record outside the database")
        chain_options(p_anchor)

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['subcommand']}")(options)

    def _organisation(self, options: dict[str, Any]) -> Organisation | str | None:
        """The chain named on the command line: an organisation, None (installation) or "all"."""
        if options.get("installation"):
            return None
        slug = options.get("organisation")
        if not slug:
            return "all"
        try:
            return Organisation.objects.get(slug=slug)
        except Organisation.DoesNotExist:
            known = ", ".join(Organisation.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"no organisation {slug!r} (known: {known})") from None

    def _verify(self, options: dict[str, Any]) -> None:
        anchors = [_anchor(text) for text in options["anchor"]]
        started = time.perf_counter()
        if options["file"] is not None:
            report = self._verify_file(options["file"], anchors)
        else:
            chain = self._organisation(options)
            if anchors and chain == "all":
                raise CommandError("--anchor belongs to one chain: give --organisation SLUG or --installation")
            report = audit.verify(chain, anchors=anchors, jobs=max(options["jobs"], 1))
        seconds = time.perf_counter() - started
        if not report.ok:
            first = report.first_problem
            where = f"first bad entry: {first.seq}" if first and first.seq else "see above"
            self.stderr.write(report.summary())
            raise CommandError(f"the audit log has been tampered with ({where})")
        rate = f", {report.entries / seconds:,.0f} entries/s" if seconds > 0 and report.entries else ""
        self.stdout.write(report.summary())
        self.stdout.write(f"verified {report.entries:,} entries in {seconds:.2f} s{rate}")

    def _verify_file(self, path: Path, anchors: list[Anchor]) -> audit.VerifyReport:
        fmt = "csv" if path.suffix.lower() == ".csv" else "jsonl"
        try:
            with open(path, encoding="utf-8", newline="" if fmt == "csv" else None) as stream:
                return audit.verify_export(stream, fmt, anchors=anchors)
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror or exc}") from None
        except audit.ExportFormatError as exc:
            raise CommandError(f"{path}: {exc}") from None

    def _export(self, options: dict[str, Any]) -> None:
        organisation = self._organisation(options)
        assert organisation != "all"  # the argument group is required
        output: Path | None = options["output"]
        fmt = options["format"]
        out = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout  # noqa: SIM115
        try:
            # No transaction around the export: on SQLite it would block every writer for as
            # long as the file takes to write. A chain only grows, so reading it in seq order
            # gives a consistent prefix anyway.
            count = audit.export_chain(organisation, out, fmt)  # type: ignore[arg-type]
        finally:
            if output:
                out.close()
        # The export is itself recorded, as the chain's next entry (so not in this file).
        audit.record(
            None, AuditAction.EXPORT, organisation=organisation,  # type: ignore[arg-type]
            object_type="core.auditentry", summary="Audit log exported from the command line",
            data={"entries": count, "format": fmt, "via": "cli"},
        )
        self.stderr.write(f"exported {count:,} audit entries" + (f" to {output}" if output else ""))

    def _anchor(self, options: dict[str, Any]) -> None:
        chain = self._organisation(options)
        heads = audit.chain_heads()
        if chain != "all":
            key = audit.chain_key(chain.pk if isinstance(chain, Organisation) else None)
            heads = [(label, head) for label, head in heads if head.key == key]
        if not heads:
            self.stdout.write("no audit entries yet")
            return
        self.stdout.write(
            "Write these down somewhere the database's administrators cannot change (paper, a signed "
            "message, another organisation). Later, `tnr audit verify` with the anchor proves the chain "
            "was neither cut short nor rewritten since.\n"
        )
        for label, head in heads:
            option = "--installation" if head.organisation_id is None else f"--organisation {label}"
            self.stdout.write(f"{label}\t{head.length}:{head.head_hash}")
            self.stdout.write(f"  tnr audit verify {option} --anchor {head.length}:{head.head_hash}")
