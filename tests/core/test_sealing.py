"""Sealing primitives: round trips, wrong secrets and tampering are refused, never half-read."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tnr.core import sealing as s

KDF = s.INSECURE_TEST_KDF


def test_password_wrap_round_trip_and_wrong_password() -> None:
    public, private = s.new_keypair()
    wrapped = s.wrap_with_password(private, "correct horse battery", KDF)
    restored = s.PasswordWrapped.from_bytes(wrapped.to_bytes())
    assert s.unwrap_with_password(restored, "correct horse battery") == private
    with pytest.raises(s.SealError, match="wrong key or corrupted"):
        s.unwrap_with_password(restored, "correct horse batterz")
    assert s.public_from_private(private) == public


def test_two_wraps_of_the_same_key_differ() -> None:
    _public, private = s.new_keypair()
    a = s.wrap_with_password(private, "pw-one-two-three", KDF).to_bytes()
    b = s.wrap_with_password(private, "pw-one-two-three", KDF).to_bytes()
    assert a != b  # fresh salt and nonce each time
    assert private not in a


@pytest.mark.parametrize("position", [0, 5, 20, 40, -1])
def test_any_flipped_byte_is_detected(position: int) -> None:
    _public, private = s.new_keypair()
    data = bytearray(s.wrap_with_password(private, "pw-one-two-three", KDF).to_bytes())
    data[position] ^= 0x01
    with pytest.raises(s.SealError):
        s.unwrap_with_password(s.PasswordWrapped.from_bytes(bytes(data)), "pw-one-two-three")


def test_seal_and_open() -> None:
    public, private = s.new_keypair()
    _other_public, other_private = s.new_keypair()
    blob = s.seal(public, "Name: Ayşe Yılmaz".encode())
    assert b"Ay" not in blob
    assert s.open_sealed(private, blob).decode() == "Name: Ayşe Yılmaz"
    with pytest.raises(s.SealError):
        s.open_sealed(other_private, blob)
    tampered = bytearray(blob)
    tampered[-3] ^= 0x80
    with pytest.raises(s.SealError):
        s.open_sealed(private, bytes(tampered))


def test_recovery_key_printable_and_checked() -> None:
    raw, text = s.new_recovery_key()
    assert all(len(group) == 4 for group in text.split("-")[:-1])
    assert s.parse_recovery_key(text) == raw
    assert s.parse_recovery_key(text.lower().replace("-", " ")) == raw
    # one wrong character is caught by the check bytes, before any decryption
    wrong = ("B" if text[0] != "B" else "C") + text[1:]
    with pytest.raises(s.SealError, match="mistyped"):
        s.parse_recovery_key(wrong)
    with pytest.raises(s.SealError):
        s.parse_recovery_key("not a key at all!")


def test_unwrap_under_recovery_key() -> None:
    raw, _text = s.new_recovery_key()
    _public, private = s.new_keypair()
    assert s.unwrap(raw, s.wrap(raw, private)) == private
    with pytest.raises(s.SealError):
        s.unwrap(s.new_recovery_key()[0], s.wrap(raw, private))


def test_kdf_params_below_minimum_are_refused() -> None:
    with pytest.raises(ValueError, match="minimum"):
        s.KdfParams(opslimit=0, memlimit=1024)


def test_sealing_does_not_import_django() -> None:
    code = "import sys, tnr.core.sealing; sys.exit(1 if 'django' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_implausible_kdf_parameters_in_a_blob_are_refused_before_deriving() -> None:
    """The cost travels in the blob: a forged one must not make a sign-in allocate terabytes."""
    _public, private = s.new_keypair()
    wrapped = s.wrap_with_password(private, "pw-one-two-three", KDF)
    for forged in (
        s.PasswordWrapped(wrapped.salt, wrapped.opslimit, 2**40, wrapped.blob),
        s.PasswordWrapped(wrapped.salt, 10**6, wrapped.memlimit, wrapped.blob),
    ):
        with pytest.raises(s.SealError, match="implausible"):
            s.unwrap_with_password(s.PasswordWrapped.from_bytes(forged.to_bytes()), "pw-one-two-three")
