"""Receipts (tnr.reporting.receipts) and receipt sign-in (tnr.reporting.actions.sign_in).

What is checked, and why it matters to a reporter:

* the receipt's form: 16 digits shown as 4-4-4-4; typed back in any script's digits;
* one Argon2id derivation yields both the lookup value and the wrapping key, and different
  receipts give different lookups;
* a wrong receipt gets one message however it is wrong, and costs the same number of
  derivations as a right one (counted by wrapping ``receipts.derive``);
* the installation-wide limit on wrong receipts pauses sign-in for everybody for the hour, says
  so plainly, and depends on no address;
* receipts keep working after the KDF parameters change;
* a report cannot be opened with another report's receipt (or key).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from typing import Any

import nacl.pwhash.argon2id as argon2id
import pytest
from django.test import Client

from tests.reporting.test_zone_flow import receipt_of, steps_answers, walk_report
from tnr.core.sealing import KdfParams
from tnr.reporting import actions, receipts
from tnr.reporting.files import check_upload
from tnr.reporting.models import ReceiptFailures, Report

pytestmark = pytest.mark.django_db

PEPPER = b"test-pepper"
CHEAP = KdfParams(1, 8192)
PAUSED = "paused"

# The same receipt written with the decimal digits of other scripts.
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def submit(organisation: Any, narrative: str = "what happened", files: tuple[Any, ...] = ()) -> actions.Submitted:
    return actions.submit_report(
        organisation, {"what": {"tactics": [], "narrative": narrative}}, language="en",
        consent_sharing="organisation", consent_referral=False, consent_statistics=False, files=files,
    )


@pytest.fixture
def derivations(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, KdfParams]]:
    """Every call of receipts.derive (as actions calls it), with its digits and parameters."""
    calls: list[tuple[str, KdfParams]] = []
    original: Callable[..., receipts.ReceiptKeys] = receipts.derive

    def counting(receipt: str, pepper: bytes, params: KdfParams) -> receipts.ReceiptKeys:
        calls.append((receipt, params))
        return original(receipt, pepper, params)

    monkeypatch.setattr(receipts, "derive", counting)
    return calls


@pytest.fixture
def argon_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every Argon2id run underneath receipts.derive (its output length)."""
    calls: list[int] = []
    original = argon2id.kdf

    def counting(size: int, *args: Any, **kwargs: Any) -> bytes:
        calls.append(size)
        return original(size, *args, **kwargs)

    monkeypatch.setattr(argon2id, "kdf", counting)
    return calls


def refusal(text: str) -> str:
    with pytest.raises(actions.ReceiptRefused) as caught:
        actions.sign_in(text)
    return str(caught.value)


def error_on_page(body: str) -> str:
    found = re.search(r'class="errorlist"[^>]*><li>([^<]*)</li>', body)
    assert found, body[:3000]
    return found.group(1)


# --- the receipt's form -------------------------------------------------------------------------


def test_new_receipt_is_sixteen_ascii_digits_in_four_groups() -> None:
    issued = {receipts.new_receipt() for _ in range(300)}
    assert len(issued) == 300
    for receipt in issued:
        assert re.fullmatch(r"[0-9]{4} [0-9]{4} [0-9]{4} [0-9]{4}", receipt), receipt


def test_new_receipt_keeps_leading_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receipts.secrets, "randbelow", lambda bound: 42)
    assert receipts.new_receipt() == "0000 0000 0000 0042"


def test_receipt_digits_use_the_whole_range() -> None:
    """Every position takes every digit: a receipt is not drawn from a smaller space."""
    seen: list[set[str]] = [set() for _ in range(16)]
    for _ in range(400):
        for position, digit in enumerate(receipts.new_receipt().replace(" ", "")):
            seen[position].add(digit)
    assert all(len(digits) == 10 for digits in seen)


@pytest.mark.parametrize(
    "typed",
    [
        "1234 5678 9012 3456",
        "1234567890123456",
        "1234-5678-9012-3456",
        "1234.5678.9012.3456",
        "  1234  5678\t9012\n3456 ",
        "1234 5678 9012 3456".translate(ARABIC_INDIC),
        "1234 5678 9012 3456".translate(PERSIAN),
        "1234 5678 9012 3456".translate(DEVANAGARI),
        "1234 5678 9012 3456".translate(FULLWIDTH),
        "١٢٣٤ 5678 ۹۰۱۲ 3456",  # mixed keyboards
    ],
)
def test_normalise_accepts_any_script_digits_and_separators(typed: str) -> None:
    assert receipts.normalise(typed) == "1234567890123456"


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "16 digits"),
        ("1234 5678 9012 345", "16 digits"),
        ("1234 5678 9012 34567", "16 digits"),
        ("1234 5678 9012 345x", "only digits"),
        ("¹²³⁴ 5678 9012 3456", "only digits"),  # superscripts are digits but not decimal digits
        ("1234 5678 9012 345½", "only digits"),
        ("1234+5678+9012+3456", "only digits"),
    ],
)
def test_normalise_refuses_what_is_not_a_receipt(typed: str, reason: str) -> None:
    with pytest.raises(receipts.ReceiptError, match=reason):
        receipts.normalise(typed)


# --- one derivation, lookup and key -------------------------------------------------------------


def test_one_derivation_gives_lookup_and_wrapping_key(argon_calls: list[int]) -> None:
    derived = receipts.derive("1234 5678 9012 3456", PEPPER, CHEAP)
    assert argon_calls == [receipts.DERIVED_BYTES]
    assert re.fullmatch(r"[0-9a-f]{64}", derived.lookup)
    assert len(derived.wrapping_key) == 32
    # The stored lookup is not the wrapping key, nor any half of the raw derivation.
    assert derived.wrapping_key.hex() not in derived.lookup
    again = receipts.derive("1234567890123456", PEPPER, CHEAP)
    assert again == derived


def test_different_receipts_pepper_or_parameters_give_different_lookups() -> None:
    base = receipts.derive("1234 5678 9012 3456", PEPPER, CHEAP)
    others = [
        receipts.derive("1234 5678 9012 3457", PEPPER, CHEAP),
        receipts.derive("0234 5678 9012 3456", PEPPER, CHEAP),
        receipts.derive("1234 5678 9012 3456", b"another-pepper", CHEAP),
        receipts.derive("1234 5678 9012 3456", PEPPER, KdfParams(2, 8192)),
    ]
    lookups = {base.lookup, *(o.lookup for o in others)}
    keys = {base.wrapping_key, *(o.wrapping_key for o in others)}
    assert len(lookups) == 5
    assert len(keys) == 5
    many = {receipts.derive(receipts.new_receipt(), PEPPER, CHEAP).lookup for _ in range(50)}
    assert len(many) == 50


def test_derivation_of_another_script_gives_the_same_keys() -> None:
    latin = receipts.derive("1234 5678 9012 3456", PEPPER, CHEAP)
    assert receipts.derive("1234 5678 9012 3456".translate(ARABIC_INDIC), PEPPER, CHEAP) == latin


def test_submission_pays_one_derivation(recovery: str, alpha: Any, derivations: list[Any], argon_calls: list[int]) -> None:
    submitted = submit(alpha)
    assert len(derivations) == 1
    assert argon_calls == [receipts.DERIVED_BYTES]
    assert derivations[0][0] == submitted.receipt
    assert Report.objects.get().lookup == receipts.derive(submitted.receipt, actions._pepper(), actions.receipt_params()).lookup


def test_right_receipt_in_arabic_indic_digits_opens_the_report(recovery: str, alpha: Any) -> None:
    submitted = submit(alpha, narrative="opened from an Arabic keyboard")
    access = actions.sign_in(submitted.receipt.translate(ARABIC_INDIC))
    assert actions.open_as_reporter(access).answers["what"]["narrative"] == "opened from an Arabic keyboard"


def test_follow_up_page_takes_persian_digits(reporter: Client, recovery: str) -> None:
    receipt = receipt_of(walk_report(reporter, steps_answers()))
    response = reporter.post("/fa/follow-up/", {"receipt": receipt.translate(PERSIAN)})
    assert response.status_code == 302
    assert response["Location"] == "/fa/follow-up/report/"
    assert reporter.cookies["tnr_r"].value


# --- wrong receipts: one message, one cost ------------------------------------------------------

WRONG = [
    "0000 0000 0000 0000",  # well formed
    "9999-9999-9999-9999",  # well formed
    "٠٠٠٠ ٠٠٠٠ ٠٠٠٠ ٠٠٠١",  # well formed, Arabic-Indic
    "1234",  # too short
    "1234 5678 9012 34567",  # too long
    "abcd efgh ijkl mnop",  # letters
    "1234 5678 9012 345x",
    "²³⁴⁵ 6789 0123 4567",  # digits that are not decimal digits
    "' OR 1=1 --",
]


def test_wrong_receipts_get_one_message(recovery: str, alpha: Any) -> None:
    submit(alpha)
    messages = {refusal(text) for text in WRONG}
    assert messages == {actions.WRONG_RECEIPT}


def test_wrong_receipts_get_one_message_on_the_page(reporter: Client, recovery: str) -> None:
    walk_report(reporter, steps_answers())
    shown = set()
    for text in WRONG:
        response = reporter.post("/en/follow-up/", {"receipt": text})
        assert response.status_code == 200
        assert "tnr_r" not in response.cookies
        shown.add(error_on_page(response.content.decode()))
    assert len(shown) == 1
    assert "does not open a report" in shown.pop()


def test_right_and_wrong_receipts_cost_the_same_derivations(
    recovery: str, alpha: Any, derivations: list[Any], argon_calls: list[int]
) -> None:
    submitted = submit(alpha)
    derivations.clear()
    argon_calls.clear()
    counts = {}
    for label, text in [("right", submitted.receipt), *((w, w) for w in WRONG)]:
        before, before_argon = len(derivations), len(argon_calls)
        try:
            actions.sign_in(text)
        except actions.ReceiptRefused:
            assert label != "right"
        else:
            assert label == "right"
        counts[label] = (len(derivations) - before, len(argon_calls) - before_argon)
    assert set(counts.values()) == {(1, 1)}, counts


# --- the installation-wide limit ---------------------------------------------------------------


@pytest.fixture
def limit(settings: Any) -> int:
    settings.TNR_RECEIPT_FAILURES_PER_HOUR = 3
    return 3


def test_failure_limit_pauses_sign_in_for_everybody(
    recovery: str, alpha: Any, limit: int, derivations: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    right = submit(alpha).receipt
    assert actions.open_as_reporter(actions.sign_in(right)).report.lookup  # works before the limit
    caplog.set_level(logging.DEBUG)
    for n in range(limit):
        assert refusal(f"0000 0000 0000 000{n}") == actions.WRONG_RECEIPT
    # Now the right receipt is refused too, and a wrong one gets the same words.
    derivations.clear()
    paused_right = refusal(right)
    paused_wrong = refusal("0000 0000 0000 0009")
    paused_malformed = refusal("12")
    assert paused_right == paused_wrong == paused_malformed
    assert PAUSED in paused_right
    assert "hour" in paused_right
    assert "safe" in paused_right  # the person is told their report is not lost
    assert len(derivations) == 3  # the pause does not make an attempt cheaper or dearer
    assert any("paused" in r.getMessage() for r in caplog.records if r.name == "tnr.reporting")


def test_failure_limit_does_not_depend_on_the_address(recovery: str, limit: int, zone: Any) -> None:
    owner = Client(REMOTE_ADDR="198.51.100.7")
    receipt = receipt_of(walk_report(owner, steps_answers()))
    for n in range(limit):  # each guess from another address, as a botnet or Tor exits would
        guesser = Client(REMOTE_ADDR=f"203.0.113.{n + 1}", HTTP_X_FORWARDED_FOR=f"192.0.2.{n + 1}")
        guesser.post("/en/follow-up/", {"receipt": f"1111 2222 3333 444{n}"})
    response = owner.post("/en/follow-up/", {"receipt": receipt})
    assert response.status_code == 200
    message = error_on_page(response.content.decode())
    assert PAUSED in message
    assert "tnr_r" not in response.cookies
    # What the limit stores: an hour and a number, nothing about who tried.
    assert {f.name for f in ReceiptFailures._meta.get_fields()} == {"hour", "failures"}
    # The refused right receipt is not counted as a failure: the count is the guesses only.
    assert list(ReceiptFailures.objects.values_list("failures", flat=True)) == [limit]


def test_pause_lasts_until_the_next_hour(recovery: str, alpha: Any, limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    right = submit(alpha).receipt
    start = dt.datetime(2025, 5, 1, 10, 5, tzinfo=dt.UTC)
    clock = {"now": start}
    monkeypatch.setattr(actions.timezone, "now", lambda: clock["now"])
    for n in range(limit):
        refusal(f"0000 0000 0000 000{n}")
    clock["now"] = start + dt.timedelta(minutes=50)  # 10:55, same hour
    assert PAUSED in refusal(right)
    clock["now"] = start + dt.timedelta(minutes=56)  # 11:01, a new hour
    assert actions.sign_in(right).lookup == Report.objects.get().lookup


def test_wrong_receipts_below_the_limit_do_not_pause(recovery: str, alpha: Any, limit: int) -> None:
    right = submit(alpha).receipt
    for n in range(limit - 1):
        refusal(f"0000 0000 0000 000{n}")
    assert actions.sign_in(right).lookup == Report.objects.get().lookup
    # A right receipt is not a failure: it does not bring the pause nearer.
    for _ in range(5):
        actions.sign_in(right)
    assert ReceiptFailures.objects.get().failures == limit - 1


# --- KDF parameters change ----------------------------------------------------------------------


def test_receipts_keep_working_after_kdf_parameters_change(
    recovery: str, alpha: Any, settings: Any, derivations: list[Any]
) -> None:
    old = submit(alpha, narrative="made with the old parameters")
    settings.TNR_RECEIPT_KDF_OPSLIMIT, settings.TNR_RECEIPT_KDF_MEMLIMIT = 2, 16384
    new = submit(alpha, narrative="made with the new parameters")
    assert sorted(Report.objects.values_list("kdf_opslimit", "kdf_memlimit")) == [(1, 8192), (2, 16384)]
    derivations.clear()
    assert actions.open_as_reporter(actions.sign_in(old.receipt)).answers["what"]["narrative"] == "made with the old parameters"
    assert actions.open_as_reporter(actions.sign_in(new.receipt)).answers["what"]["narrative"] == "made with the new parameters"
    # Each attempt, right or wrong, tries every parameter set in use: the same cost for all.
    assert len(derivations) == 4
    derivations.clear()
    assert refusal("0000 0000 0000 0000") == actions.WRONG_RECEIPT
    assert refusal("12") == actions.WRONG_RECEIPT
    assert len(derivations) == 4
    assert {params for _digits, params in derivations} == {KdfParams(1, 8192), KdfParams(2, 16384)}


# --- one report per receipt ---------------------------------------------------------------------


def test_a_receipt_opens_its_own_report_only(recovery: str, alpha: Any) -> None:
    first = submit(alpha, narrative="first report")
    second = submit(alpha, narrative="second report")
    assert first.receipt != second.receipt
    assert first.report.lookup != second.report.lookup
    assert actions.open_as_reporter(actions.sign_in(first.receipt)).answers["what"]["narrative"] == "first report"
    assert actions.open_as_reporter(actions.sign_in(second.receipt)).answers["what"]["narrative"] == "second report"


def test_another_reports_key_does_not_open_a_report(recovery: str, alpha: Any) -> None:
    first = actions.sign_in(submit(alpha).receipt)
    second = actions.sign_in(submit(alpha).receipt)
    # The lookup of one report with the wrapping key of the other (as a forged cookie would be).
    for forged in (actions.ReporterAccess(first.lookup, second.wrapping_key),
                   actions.ReporterAccess(second.lookup, first.wrapping_key),
                   actions.ReporterAccess(first.lookup, bytes(32))):
        with pytest.raises(actions.ReceiptRefused):
            actions.open_as_reporter(forged)
        with pytest.raises(actions.ReceiptRefused):
            actions.add_reporter_message(forged, "not mine")
        with pytest.raises(actions.ReceiptRefused):
            actions.withdraw_consent(forged)
        with pytest.raises(actions.ReceiptRefused):
            actions.request_deletion(forged)
    assert not Report.objects.filter(consent_withdrawn_on__isnull=False).exists()
    assert not Report.objects.filter(deletion_requested_on__isnull=False).exists()


def test_a_reporter_cannot_download_another_reports_file(reporter: Client, recovery: str, alpha: Any) -> None:
    other = submit(alpha, files=(check_upload("other.txt", b"the other reporter's file\n", max_bytes=10**6),))
    other_file = other.report.files.get()
    receipt = receipt_of(walk_report(reporter, steps_answers()))
    assert reporter.post("/en/follow-up/", {"receipt": receipt}).status_code == 302
    response = reporter.get(f"/en/follow-up/files/{other_file.pk}/")
    assert response.status_code == 404
    assert b"the other reporter" not in response.content
    with pytest.raises(actions.ReportingError):
        actions.reporter_file(actions.sign_in(receipt), other_file.pk)
    meta, content = actions.reporter_file(actions.sign_in(other.receipt), other_file.pk)
    assert content == b"the other reporter's file\n"
    assert meta["name"] == "other.txt"
