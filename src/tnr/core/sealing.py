"""Sealing: encryption the database cannot read (DESIGN §5), on libsodium through PyNaCl.

Primitives only; no Django. Every blob starts with a one-byte format version so parameters can
change without guessing what an old blob was made with.

* An organisation has an X25519 key pair. Anyone may *seal* to its public key (a libsodium
  sealed box: ephemeral sender key, so a sealed value carries no sender identity); only holders
  of the private key can open it.
* The private key is only ever stored *wrapped* (XSalsa20-Poly1305 secret box) under a key
  derived from a member's password with Argon2id, or under the organisation's recovery key
  (32 random bytes shown once at set-up, so no slow derivation is needed for it).
* Wrong passwords, wrong keys and corrupted blobs all raise ``SealError``; nothing is ever
  returned half-decrypted, because the secret box authenticates every byte.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import nacl.exceptions
import nacl.pwhash.argon2id as argon2id
import nacl.secret
import nacl.utils
from nacl.public import PrivateKey, PublicKey, SealedBox

VERSION = 1
KEY_BYTES = 32
SALT_BYTES = argon2id.SALTBYTES  # 16


class SealError(Exception):
    """A blob could not be opened: wrong secret, wrong key, or corrupted/tampered data."""


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost. Production: 3 passes over 128 MiB (≈0.25 s on one core of the development
    machine; bench/bench_keys.py, docs/keys.md). Tests use libsodium's minimum, which is insecure."""

    opslimit: int
    memlimit: int

    def __post_init__(self) -> None:
        if self.opslimit < argon2id.OPSLIMIT_MIN or self.memlimit < argon2id.MEMLIMIT_MIN:
            raise ValueError("Argon2id parameters below libsodium's minimum")


PRODUCTION_KDF = KdfParams(opslimit=3, memlimit=128 * 1024 * 1024)
INSECURE_TEST_KDF = KdfParams(opslimit=argon2id.OPSLIMIT_MIN, memlimit=argon2id.MEMLIMIT_MIN)
# The most a stored blob may ask for. The parameters travel in the blob, so a damaged or forged
# blob could otherwise make one sign-in allocate terabytes or run for hours.
PLAUSIBLE_MAX_KDF = KdfParams(opslimit=32, memlimit=4 * 1024 * 1024 * 1024)


def derive_key(secret: str | bytes, salt: bytes, params: KdfParams) -> bytes:
    """32-byte key from a password or receipt with Argon2id."""
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if len(salt) != SALT_BYTES:
        raise ValueError(f"salt must be {SALT_BYTES} bytes")
    return argon2id.kdf(KEY_BYTES, secret, salt, opslimit=params.opslimit, memlimit=params.memlimit)


def wrap(key: bytes, plaintext: bytes) -> bytes:
    """Encrypt and authenticate ``plaintext`` under a 32-byte key."""
    return bytes([VERSION]) + bytes(nacl.secret.SecretBox(key).encrypt(plaintext))


def unwrap(key: bytes, blob: bytes) -> bytes:
    if not blob or blob[0] != VERSION:
        raise SealError("unknown blob format")
    try:
        return bytes(nacl.secret.SecretBox(key).decrypt(bytes(blob[1:])))
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        raise SealError("cannot open: wrong key or corrupted data") from None


@dataclass(frozen=True)
class PasswordWrapped:
    """A secret wrapped under a password: what is stored per member."""

    salt: bytes
    opslimit: int
    memlimit: int
    blob: bytes

    def to_bytes(self) -> bytes:
        head = bytes([VERSION]) + self.salt + self.opslimit.to_bytes(4, "big") + self.memlimit.to_bytes(8, "big")
        return head + self.blob

    @classmethod
    def from_bytes(cls, data: bytes) -> PasswordWrapped:
        if len(data) < 1 + SALT_BYTES + 12 or data[0] != VERSION:
            raise SealError("unknown wrapped-key format")
        salt = data[1 : 1 + SALT_BYTES]
        rest = data[1 + SALT_BYTES :]
        return cls(salt, int.from_bytes(rest[:4], "big"), int.from_bytes(rest[4:12], "big"), rest[12:])


def wrap_with_password(secret: bytes, password: str, params: KdfParams) -> PasswordWrapped:
    salt = nacl.utils.random(SALT_BYTES)
    return PasswordWrapped(salt, params.opslimit, params.memlimit, wrap(derive_key(password, salt, params), secret))


def unwrap_with_password(wrapped: PasswordWrapped, password: str) -> bytes:
    try:
        params = KdfParams(wrapped.opslimit, wrapped.memlimit)
    except ValueError:
        raise SealError("wrapped key has invalid KDF parameters") from None
    if params.opslimit > PLAUSIBLE_MAX_KDF.opslimit or params.memlimit > PLAUSIBLE_MAX_KDF.memlimit:
        raise SealError("wrapped key asks for implausible KDF parameters (damaged or forged)")
    return unwrap(derive_key(password, wrapped.salt, params), wrapped.blob)


# --- organisation key pairs ----------------------------------------------------------------------


def new_keypair() -> tuple[bytes, bytes]:
    """(public, private) X25519 key pair, raw 32 bytes each."""
    private = PrivateKey.generate()
    return bytes(private.public_key), bytes(private)


def public_from_private(private: bytes) -> bytes:
    return bytes(PrivateKey(private).public_key)


def seal(public: bytes, plaintext: bytes) -> bytes:
    """Encrypt to a public key; only the private key opens it."""
    return bytes([VERSION]) + bytes(SealedBox(PublicKey(public)).encrypt(plaintext))


def open_sealed(private: bytes, blob: bytes) -> bytes:
    if not blob or blob[0] != VERSION:
        raise SealError("unknown sealed format")
    try:
        return bytes(SealedBox(PrivateKey(private)).decrypt(bytes(blob[1:])))
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        raise SealError("cannot open: not sealed to this key, or corrupted") from None


# --- recovery keys -------------------------------------------------------------------------------
# Printable form: 32 random bytes + 2 check bytes in Crockford-free RFC 4648 base32 (A–Z, 2–7),
# in groups of four. The check bytes catch a mistyped character before any decryption is tried.


def _check(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=2, person=b"tnr-recovery").digest()


def new_recovery_key() -> tuple[bytes, str]:
    raw = secrets.token_bytes(KEY_BYTES)
    text = base64.b32encode(raw + _check(raw)).decode("ascii").rstrip("=")
    return raw, "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def parse_recovery_key(text: str) -> bytes:
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum())
    cleaned = cleaned.replace("0", "O").replace("1", "I").replace("8", "B")
    try:
        data = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (ValueError, binascii.Error):
        raise SealError("not a recovery key: use the letters and digits 2–7 as printed") from None
    if len(data) != KEY_BYTES + 2 or not hmac.compare_digest(_check(data[:KEY_BYTES]), data[KEY_BYTES:]):
        raise SealError("recovery key is mistyped (check failed): compare it with the printed copy")
    return data[:KEY_BYTES]
