"""The guided self-assessment: from a person's answers to an explanation, safety guidance and
the protection mechanisms that fit them. Pure computation over the form's answers and the
directory; nothing is stored.

The reasoning follows the definition used across the field (OHCHR, Freedom House): an act is
transnational repression when a state, or people acting for it, reaches across its borders to
deter, silence or punish people abroad, or presses them through relatives at home. So the
page looks for two things: acts of the kinds the taxonomy lists, and a state that is not the
one where the person is.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from tnr.cases.choices import Need
from tnr.cases.directory import Match, UnknownCode, find_mechanisms
from tnr.reporting import wording
from tnr.reporting.choices import Danger, Evidence, Whom
from tnr.reporting.forms import country_name


class Verdict(enum.Enum):
    LIKELY = "likely"
    POSSIBLE = "possible"
    DOMESTIC = "domestic"
    UNCLEAR = "unclear"


VERDICT_TEXT: dict[Verdict, Promise] = {
    Verdict.LIKELY: _("What you describe looks like transnational repression."),
    Verdict.POSSIBLE: _("What you describe may be transnational repression."),
    Verdict.DOMESTIC: _("What you describe sounds serious, but it may not be transnational repression."),
    Verdict.UNCLEAR: _("From these answers we cannot tell yet."),
}


@dataclass(frozen=True)
class Found:
    """A directory entry as the reporter zone shows it: labels in the reader's language."""

    mechanism: Any
    kind_label: str
    need_labels: list[str]


def _found(match: Match) -> Found:
    kind = match.mechanism.kind
    return Found(
        mechanism=match.mechanism,
        kind_label=str(wording.MECHANISM_KINDS.get(kind, kind)),
        need_labels=[str(wording.NEEDS.get(n, n)) for n in match.needs_matched],
    )


@dataclass
class Result:
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    tactics: list[wording.TacticWording] = field(default_factory=list)
    guidance: list[Promise] = field(default_factory=list)
    urgent: bool = False
    mechanisms: list[Found] = field(default_factory=list)
    country: str = ""

    @property
    def headline(self) -> Promise:
        return VERDICT_TEXT[self.verdict]


def _directory_language(language: str) -> str | None:
    return language.split("-")[0].lower() or None


def assess(answers: dict[str, Any], *, language: str) -> Result:
    tactics = [code for code in answers.get("what") or [] if code in wording.TACTICS]
    whom = set(answers.get("whom") or [])
    here = answers.get("where_now") or ""
    origin = answers.get("origin") or ""
    behind = answers.get("behind") or ""
    danger = answers.get("danger") or ""

    reasons: list[str] = []
    if not tactics:
        verdict = Verdict.UNCLEAR
        reasons.append(str(_("You did not tick any of the things that happen in transnational repression. "
                             "If something else happened, you can still describe it in a report.")))
    elif behind and here and behind == here:
        verdict = Verdict.DOMESTIC
        reasons.append(str(_("You think the government of the country where you are now is behind it. "
                             "Transnational repression is when a government acts beyond its own borders.")))
    elif behind:
        verdict = Verdict.LIKELY
        reasons.append(str(_("You think the government of %(country)s is behind it, and you are outside "
                             "its borders or it reached you through people close to you.")
                           % {"country": country_name(behind)}))
    elif (origin and origin != here) or Whom.RELATIVE_HOME in whom:
        verdict = Verdict.POSSIBLE
        reasons.append(str(_("You do not know who is behind it, but you live outside your country of origin "
                             "or relatives there were targeted. Organisations can help find out more.")))
    else:
        verdict = Verdict.POSSIBLE
        reasons.append(str(_("You did not say who you think is behind it. That is common: caseworkers can "
                             "help work it out.")))
    if "coercion_by_proxy" in tactics or Whom.RELATIVE_HOME in whom:
        reasons.append(str(_("Pressure on relatives back home is one of the most common forms of "
                             "transnational repression.")))

    guidance: list[Promise] = []
    urgent = danger == Danger.YES
    if urgent:
        guidance.append(_("If you are in immediate danger, call the local emergency number now "
                          "(112 in most of Europe, 911 in North America, 999 in the United Kingdom) "
                          "and go to a safe place where other people are around."))
    if danger in (Danger.YES, Danger.NOT_SURE):
        guidance.append(_("Tell someone you trust where you are and when you will contact them again."))
    if {"killing", "abduction_rendition", "assault", "intimidation_surveillance"} & set(tactics):
        guidance.append(_("Write down dates, places, descriptions of people and vehicles while you remember "
                          "them. Do not confront people who follow you."))
    if {"spyware_account_compromise", "monitoring_infiltration", "online_threats_smear"} & set(tactics):
        guidance.append(_("If you think your phone or computer is infected, use another device to ask for "
                          "help, do not delete the suspicious messages, and turn on two-step sign-in for "
                          "your accounts. A digital-security helpline can check the device."))
    if {"detention_on_request", "unlawful_deportation", "legal_process_abuse"} & set(tactics):
        guidance.append(_("If you face arrest, extradition or deportation, contact a lawyer at once and tell "
                          "the authorities that you fear persecution if returned."))
    if "coercion_by_proxy" in tactics:
        guidance.append(_("Agree with your relatives on a safe way to reach each other, and keep a record of "
                          "every call or visit they receive."))
    guidance.append(_("Keep screenshots, letters and messages: they can become evidence. "
                      "Store copies somewhere safe."))

    needs = [n for n in answers.get("needs") or [] if n in Need.values]
    if urgent and Need.PHYSICAL_SAFETY not in needs:
        needs.append(Need.PHYSICAL_SAFETY)
    profile = [p for p in answers.get("profile") or [] if p in wording.TARGET_CATEGORIES]
    try:
        mechanisms = find_mechanisms(country=here or None, needs=needs, profile=profile,
                                     language=_directory_language(language))
    except UnknownCode:
        mechanisms = find_mechanisms(country=here or None, needs=needs, profile=profile)
    return Result(
        verdict=verdict, reasons=reasons, tactics=[wording.TACTICS[c] for c in tactics],
        guidance=guidance, urgent=urgent, mechanisms=[_found(m) for m in mechanisms[:12]], country=country_name(here) if here else "",
    )


def seed_report(answers: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """The self-assessment's answers, carried into the report's steps so nothing is asked twice."""

    def one(name: str) -> list[str]:
        value = answers.get(name)
        return [value] if value else []

    return {
        "what": {"tactics": list(answers.get("what") or [])},
        "when": {"host_state": one("where_now"), "origin_state": one("origin"),
                 "perpetrator_states": one("behind")},
        "whom": {"whom": list(answers.get("whom") or []), "profile": list(answers.get("profile") or []),
                 "danger": one("danger"), "needs": list(answers.get("needs") or [])},
    }


def describe_answers(answers: dict[str, Any]) -> list[tuple[str, str]]:
    """(question, answer) pairs in the reader's language, for showing a report back."""
    # Imported here, not at the top of the module: only this function needs them.
    import datetime as dt

    from django.utils.formats import date_format
    from django.utils.translation import pgettext

    from tnr.reporting.choices import ContactMethod, Precision, SharingConsent
    from tnr.reporting.templatetags.zone_i18n import join_items

    rows: list[tuple[str, str]] = []
    what = answers.get("what", {})
    when = answers.get("when", {})
    whom = answers.get("whom", {})
    evidence = answers.get("evidence", {})
    you = answers.get("you", {})

    def labels(codes: Any, table: dict[str, Any]) -> str:
        # Many labels contain commas ("Messages, emails or call logs"), so the items are
        # separated by the language's semicolon (English "; ", Arabic "؛ ", Chinese "；").
        return join_items((table.get(code, code) for code in codes or []), "semicolon")

    def moment(when: dict[str, Any]) -> str:
        # As precise as the person said, in the reader's own date format ("5 March 2025",
        # "2025年3月5日"); ISO digits only if the stored values do not make a date.
        precision: Any = when.get("precision")
        year: Any = when.get("year")
        month: Any = when.get("month")
        day: Any = when.get("day")
        try:
            if precision == Precision.DAY and month and day:
                text = date_format(dt.date(int(year), int(month), int(day)), "DATE_FORMAT")
            elif precision in (Precision.MONTH, Precision.DAY) and month:
                text = date_format(dt.date(int(year), int(month), 1), "YEAR_MONTH_FORMAT")
            else:
                text = str(int(year))
        except (TypeError, ValueError):
            text = "-".join(str(part) for part in (year, month, day) if part)
        if when.get("ongoing"):
            # Translators: %(date)s is when it happened or began, e.g. "March 2025".
            text = pgettext("something that happened and has not stopped", "%(date)s (still going on)") % {"date": text}
        return text

    if what.get("tactics"):
        rows.append((str(_("What happened")), labels(what["tactics"], {k: w.name for k, w in wording.TACTICS.items()})))
    if what.get("narrative"):
        rows.append((str(_("In your own words")), what["narrative"]))
    if when.get("year"):
        rows.append((str(_("When")), moment(when)))
    for key, label in (("country", _("Where")), ("host_state", _("Country where you live")),
                       ("origin_state", _("Country of origin"))):
        if when.get(key):
            rows.append((str(label), country_name(when[key])))
    if when.get("city"):
        rows.append((str(_("City or area")), when["city"]))
    if when.get("location_type"):
        rows.append((str(_("Place")), str(wording.LOCATION_TYPES.get(when["location_type"], when["location_type"]))))
    if when.get("perpetrator_states"):
        rows.append((str(_("Government behind it")), join_items((country_name(c) for c in when["perpetrator_states"]), "semicolon")))
    if when.get("actors"):
        rows.append((str(_("Who did it")), labels(when["actors"], wording.ACTOR_GROUPS)))
    if whom.get("whom"):
        rows.append((str(_("Aimed at")), labels(whom["whom"], dict(Whom.choices))))
    if whom.get("profile"):
        rows.append((str(_("Profile")), labels(whom["profile"], wording.TARGET_CATEGORIES)))
    if whom.get("relatives"):
        rows.append((str(_("Relatives back home")), whom["relatives"]))
    if whom.get("danger"):
        rows.append((str(_("In danger now")), str(dict(Danger.choices).get(whom["danger"], whom["danger"]))))
    if whom.get("needs"):
        rows.append((str(_("Help needed")), labels(whom["needs"], wording.NEEDS)))
    if evidence.get("kinds"):
        rows.append((str(_("Evidence")), labels(evidence["kinds"], dict(Evidence.choices))))
    if evidence.get("notes"):
        rows.append((str(_("About the evidence")), evidence["notes"]))
    if you.get("name"):
        rows.append((str(_("Name")), you["name"]))
    if you.get("contact_method"):
        method = str(dict(ContactMethod.choices).get(you["contact_method"], you["contact_method"]))
        contact = you.get("contact") or ""
        if contact:
            # Translators: how to reach the person, e.g. "Signal: +49 170 0000000".
            method = pgettext("contact method and address", "%(method)s: %(contact)s") % {"method": method, "contact": contact}
        rows.append((str(_("Contact")), method))
    if you.get("consent_sharing"):
        rows.append((str(_("Who may read it")), str(dict(SharingConsent.choices).get(you["consent_sharing"], ""))))
    return rows
