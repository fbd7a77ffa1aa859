"""Receipts and report keys (DESIGN §5): one Argon2id derivation per submission or sign-in.

A report has its own X25519 key pair. Everything the reporter sends (answers, narrative,
identity, contact, files) and every reply is sealed to the report's public key, so anyone may
add to a report without being able to read it. The report's private key is stored twice, never
in clear: sealed to the organisation's public key (caseworkers open it with the organisation
key) and wrapped under a key derived from the reporter's receipt.

The receipt is 16 random decimal digits (53 bits), the form GlobaLeaks made familiar: easy to
write on paper or read over a phone. A single Argon2id derivation over the receipt gives 64
bytes: the first half becomes the *lookup* (hashed once more, so the stored value is not a
KDF output an attacker could test against the second half), the second half is the *wrapping
key*. GlobaLeaks runs two derivations (receipt hash, then key) behind one process-wide lock;
we run one, and only bound how many run at once per process (each holds 128 MiB), so two
cores serve two derivations at a time.

The derivation salt is not stored in the database: it comes from ``TNR_RECEIPT_PEPPER``
(settings), so a stolen database alone does not even allow guessing receipts offline. With
the pepper as well, each guess costs one Argon2id derivation against a space of 10^16.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass

from tnr.core import sealing
from tnr.core.sealing import KdfParams, SealError

RECEIPT_DIGITS = 16
DERIVED_BYTES = 64

# At most this many derivations run at once in one process. Not a lock around the whole
# submission (GlobaLeaks' choice): only the memory-hard step waits, and as many proceed as
# there are cores, which is what the hardware can do anyway. ``configure_slots`` sets it from
# TNR_RECEIPT_KDF_SLOTS when the app starts (tnr.reporting.apps).
_KDF_SLOTS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


def configure_slots(count: int) -> None:
    """How many derivations this process runs at once (call before serving requests)."""
    global _KDF_SLOTS
    _KDF_SLOTS = threading.BoundedSemaphore(max(1, int(count)))


class ReceiptError(ValueError):
    """Text that cannot be a receipt (wrong length or characters); message fit for the reporter."""


def new_receipt() -> str:
    """A fresh receipt, as shown to the reporter: four groups of four digits."""
    digits = f"{secrets.randbelow(10**RECEIPT_DIGITS):0{RECEIPT_DIGITS}d}"
    return " ".join(digits[i : i + 4] for i in range(0, RECEIPT_DIGITS, 4))


def normalise(text: str) -> str:
    """The 16 digits of a receipt as typed (spaces, dashes and dots ignored; any script's
    decimal digits accepted, so a receipt typed on an Arabic or Persian keyboard works)."""
    digits = []
    for ch in text:
        if ch.isspace() or ch in "-.–_":
            continue
        if not ch.isdecimal():
            raise ReceiptError("A receipt has only digits.")
        digits.append(str(int(ch)))  # int() maps ٣ or ۳ to 3
    if len(digits) != RECEIPT_DIGITS:
        raise ReceiptError("A receipt has 16 digits.")
    return "".join(digits)


def _salt(pepper: bytes) -> bytes:
    return hashlib.blake2b(pepper, digest_size=sealing.SALT_BYTES, person=b"tnr-receipt-salt").digest()


@dataclass(frozen=True)
class ReceiptKeys:
    """What one derivation over a receipt yields."""

    lookup: str  # hex, stored on the report and unique
    wrapping_key: bytes  # 32 bytes, never stored


def derive(receipt: str, pepper: bytes, params: KdfParams) -> ReceiptKeys:
    """One Argon2id derivation: the report's lookup value and the key wrapping its private key."""
    digits = normalise(receipt)
    with _KDF_SLOTS:
        import nacl.pwhash.argon2id as argon2id

        raw = argon2id.kdf(
            DERIVED_BYTES, digits.encode("ascii"), _salt(pepper),
            opslimit=params.opslimit, memlimit=params.memlimit,
        )
    lookup = hashlib.blake2b(raw[:32], digest_size=32, person=b"tnr-receipt-look").hexdigest()
    return ReceiptKeys(lookup=lookup, wrapping_key=raw[32:])


@dataclass(frozen=True)
class ReportKeys:
    """A new report's keys, in the form they are stored."""

    public_key: bytes
    sealed_to_organisation: bytes
    wrapped_for_reporter: bytes
    private_key: bytes  # kept in memory only, to seal the first items and then dropped


def new_report_keys(organisation_public_key: bytes, wrapping_key: bytes) -> ReportKeys:
    public, private = sealing.new_keypair()
    return ReportKeys(
        public_key=public,
        sealed_to_organisation=sealing.seal(organisation_public_key, private),
        wrapped_for_reporter=sealing.wrap(wrapping_key, private),
        private_key=private,
    )


def open_with_receipt_key(public_key: bytes, wrapped: bytes, wrapping_key: bytes) -> bytes:
    """The report private key, or SealError; checked against the stored public key."""
    private = sealing.unwrap(wrapping_key, wrapped)
    _check(public_key, private)
    return private


def open_with_organisation_key(public_key: bytes, sealed: bytes, organisation_private: bytes) -> bytes:
    private = sealing.open_sealed(organisation_private, sealed)
    _check(public_key, private)
    return private


def _check(public_key: bytes, private: bytes) -> None:
    if not hmac.compare_digest(sealing.public_from_private(private), bytes(public_key)):
        raise SealError("report key does not match the report (damaged record)")
