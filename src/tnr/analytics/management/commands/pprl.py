"""``tnr pprl`` — privacy-preserving record linkage between organisations (docs/pprl.md).

    tnr pprl secret --out SECRET                       # once, by one organisation; shared privately
    tnr pprl encode RECORDS.csv --org NAME --secret-file SECRET --out NAME.enc [--profile P | --fields SPEC]
    tnr pprl inspect NAME.enc [...]                     # what a file holds (parameters, no bits)
    tnr pprl match A.enc B.enc [C.enc ...] --out table.csv    # coordinator: overlap counts only
    tnr estimate table.csv

Each organisation runs ``encode`` on its own machine; only the encoding files travel to the
coordinator, who never has the secret. ``match`` writes the capture-history table and nothing
about single records.
"""

from __future__ import annotations

import csv
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tnr.methods import pprl


class Command(BaseCommand):
    help = "Privacy-preserving record linkage: make a shared secret, encode records, match encodings into a capture-history table."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)

        secret = sub.add_parser("secret", help="write a new random shared secret for one linkage round")
        secret.add_argument("--out", required=True, type=Path, help="file to create (readable by you only)")

        enc = sub.add_parser("encode", help="encode a CSV of records into Bloom-filter encodings (run by each organisation)")
        enc.add_argument("records", type=Path, help="CSV: one record per row, or the flat exchange CSV of `tnr export --format csv`")
        enc.add_argument("--org", required=True, help="this organisation's list name (a column of the capture-history table)")
        enc.add_argument("--secret-file", required=True, type=Path, help="the shared secret (from `tnr pprl secret`)")
        enc.add_argument("--out", required=True, type=Path, help="encoding file to write (this is what is sent)")
        enc.add_argument(
            "--profile", choices=sorted(pprl.PROFILES),
            help="built-in field list (default: incident for a flat exchange CSV, else person)",
        )
        enc.add_argument("--fields", help="own field list instead of a profile: NAME[=COLUMN]:KIND[:WEIGHT[:Q]],...")
        enc.add_argument("--length", type=int, default=1024, help="Bloom filter bits before balancing (default 1024)")
        enc.add_argument("--no-balance", action="store_true", help="do not balance (weaker; see docs/pprl.md)")
        enc.add_argument(
            "--salt", default=None,
            help="field whose value salts each record (default: the profile's; 'none' to switch off)",
        )
        enc.add_argument("--threshold", type=float, default=None, help="suggested Dice threshold to record (default: the profile's)")
        enc.add_argument(
            "--map-out", type=Path, default=None,
            help="also write which local record each encoding row is (keep it; never send it)",
        )

        ins = sub.add_parser("inspect", help="show what encoding files hold (parameters, fingerprint, counts)")
        ins.add_argument("encodings", nargs="+", type=Path)

        match = sub.add_parser("match", help="match encodings of several organisations; write overlap counts only")
        match.add_argument("encodings", nargs="+", type=Path, help="two or more encoding files, one per organisation")
        match.add_argument("--out", required=True, type=Path, help="capture-history CSV for `tnr estimate`")
        match.add_argument("--threshold", type=float, default=None, help="Dice threshold of plain filters (default: from the files)")
        match.add_argument("--blocking", choices=["lsh", "none"], default="lsh", help="candidate pairs by LSH (default) or all pairs")
        match.add_argument(
            "--min-records", type=int, default=20,
            help="refuse files with fewer records (default 20): tiny files let a participant test whether one person is on another list",
        )
        match.add_argument("--format", choices=["text", "json"], default="text", help="summary on standard output")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except pprl.PPRLError as error:
            raise CommandError(str(error)) from None

    # -- secret ----------------------------------------------------------------------------
    def _secret(self, options: dict[str, Any]) -> None:
        path: Path = options["out"]
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{path} exists; a secret is never overwritten (choose another name)") from None
        except OSError as exc:
            raise CommandError(f"{path}: cannot create ({exc.strerror})") from None
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(pprl.new_secret() + "\n")
        self.stdout.write(
            f"{path}: new shared secret (readable by you only). Give it to each participating organisation "
            "over a private channel — never to the coordinator — and use it for this linkage round only."
        )

    # -- encode ----------------------------------------------------------------------------
    def _encode(self, options: dict[str, Any]) -> None:
        records: Path = options["records"]
        secret_path: Path = options["secret_file"]
        _warn_if_shared(secret_path, self.stderr)
        secret = pprl.Secret.from_file(secret_path)
        params = _params(options, records)
        encodings, ids = pprl.encode_file(records, organisation=options["org"], params=params, secret=secret)
        if not len(encodings):
            raise CommandError(f"{records}: no records to encode")
        out: Path = options["out"]
        try:
            encodings.save(out)
        except OSError as exc:
            raise CommandError(f"{out}: cannot write ({exc.strerror})") from None
        if options["map_out"]:
            with open(options["map_out"], "w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(["row", "record"])
                writer.writerows(enumerate(ids))
        hardening = ", ".join(
            h for h in ("balanced" if params.balance else "", f"salted by {params.salt}" if params.salt else "") if h
        ) or "no hardening"
        self.stdout.write(
            f"{out}: {len(encodings):,} encodings of {options['org']} ({params.profile or 'own fields'}, "
            f"{params.bits} bits, {hardening}; secret fingerprint {encodings.secret_fingerprint[:12]}…)"
        )

    # -- inspect ---------------------------------------------------------------------------
    def _inspect(self, options: dict[str, Any]) -> None:
        for path in options["encodings"]:
            enc = pprl.Encodings.load(path)
            p = enc.params
            self.stdout.write(f"{path}: organisation {enc.organisation}, {len(enc):,} records")
            self.stdout.write(f"  secret fingerprint {enc.secret_fingerprint}   parameters {p.digest()}")
            self.stdout.write(
                f"  {p.profile or 'own fields'}: {p.length} bits{' balanced' if p.balance else ''}"
                f"{f', salted by {p.salt}' if p.salt else ''}, threshold {p.threshold}, mean density {enc.density}"
            )
            for f in p.fields:
                self.stdout.write(f"    {f.name:<20} {f.kind:<11} weight {f.weight:>2}  column {f.source}")

    # -- match -----------------------------------------------------------------------------
    def _match(self, options: dict[str, Any]) -> None:
        paths: list[Path] = options["encodings"]
        if len(paths) < 2:
            raise CommandError("match needs the encoding files of at least two organisations")
        sets = [pprl.Encodings.load(path) for path in paths]
        pprl.check_compatible(sets)
        for enc in sets:
            if len(enc) < options["min_records"]:
                raise CommandError(
                    f"{enc.label} has {len(enc)} records, fewer than --min-records {options['min_records']}: "
                    "a very small file could be used to test whether one person is on another organisation's list"
                )
        result = pprl.match(sets, threshold=options["threshold"], blocking=options["blocking"])
        out: Path = options["out"]
        try:
            pprl.write_capture_histories(out, result)
        except OSError as exc:
            raise CommandError(f"{out}: cannot write ({exc.strerror})") from None
        table = result.capture_histories()
        if options["format"] == "json":
            self.stdout.write(json.dumps({
                "lists": list(result.organisations),
                "records": [len(s) for s in sets],
                "clusters": sum(table.values()),
                "table": [{"history": list(h), "count": c} for h, c in table.items()],
                "threshold": result.stats["threshold"],
                "effective_threshold": result.stats["effective_threshold"],
                "compared_pairs": result.stats["compared"],
                "seconds": result.stats["seconds"],
                "out": str(out),
            }))
            return
        sizes = ", ".join(f"{s.organisation} {len(s):,}" for s in sets)
        self.stdout.write(f"lists: {sizes}")
        self.stdout.write(
            f"{result.stats['compared']:,} candidate pairs compared (blocking {options['blocking']}), "
            f"threshold {result.stats['threshold']} (on the stored scale {result.stats['effective_threshold']}), "
            f"{result.stats['seconds']} s"
        )
        self.stdout.write(f"{sum(table.values()):,} distinct cases; capture histories written to {out}:")
        self.stdout.write("  " + " ".join(result.organisations) + "  count")
        for history, count in table.items():
            self.stdout.write("  " + " ".join(f"{b:>{len(o)}}" for b, o in zip(history, result.organisations, strict=True)) + f"  {count}")


def _params(options: dict[str, Any], records: Path) -> pprl.EncodingParams:
    salt = options["salt"]
    extra: dict[str, Any] = {"length": options["length"], "balance": not options["no_balance"]}
    if options["threshold"] is not None:
        extra["threshold"] = options["threshold"]
    if options["fields"]:
        if options["profile"]:
            raise CommandError("give either --profile or --fields, not both")
        fields = pprl.parse_fields(options["fields"])
        return pprl.EncodingParams(fields=fields, salt="" if salt in (None, "none") else salt, **extra)
    profile = options["profile"] or _guess_profile(records)
    extra["salt"] = pprl.PROFILE_SALTS[profile] if salt is None else ("" if salt == "none" else salt)
    return pprl.profile_params(profile, **extra)


def _guess_profile(records: Path) -> str:
    """incident for the flat exchange CSV (it has incident_id and act_id), else person."""
    try:
        with open(records, encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return "person"  # read_records reports the problem with the file itself
    return "incident" if {"incident_id", "act_id"} <= set(header) else "person"


def _warn_if_shared(path: Path, stderr: Any) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # Secret.from_file says what is wrong
    if sys.platform != "win32" and mode & (stat.S_IRGRP | stat.S_IROTH):
        stderr.write(f"warning: {path} is readable by other users of this machine (chmod 600 {path})")
