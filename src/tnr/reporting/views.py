"""Views of the reporter zone (served by its own process, TNR_ZONE=reporter).

No view here reads or writes a session, stores what the person types before they submit, or
logs anything about the request. A report is written in steps whose earlier answers travel in
the page itself (one hidden field), so an abandoned report leaves nothing on the server; on
submission everything is sealed in memory and stored in one transaction.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from django.utils.translation import get_language, get_language_bidi
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tnr.accounts.models import Organisation
from tnr.reporting import access, actions, assessment
from tnr.reporting import forms as f
from tnr.reporting.choices import ReportStatus
from tnr.reporting.files import ACCEPTED, CheckedFile, FileRefused, check_upload, clean_name
from tnr.reporting.uploads import TOO_LARGE_ATTR

STATIC_CSS = Path(__file__).resolve().parent / "static" / "reporting" / "zone.css"


def _render(request: HttpRequest, template: str, context: dict[str, Any] | None = None, status: int = 200) -> HttpResponse:
    base = {
        "quick_exit_url": settings.TNR_QUICK_EXIT_URL,
        "languages": settings.LANGUAGES,
        "current_language": get_language(),
        "bidi": get_language_bidi(),
        "signed_in": access.current(request) is not None,
    }
    return render(request, f"reporting/zone/{template}", {**base, **(context or {})}, status=status)


@require_GET
def stylesheet(request: HttpRequest) -> HttpResponse:
    """The zone's only stylesheet, served by the zone itself so that it can run alone behind an
    onion service with no web server in front to serve static files."""
    response = HttpResponse(STATIC_CSS.read_bytes(), content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The zone's own 400 page (a body too large, too many fields): explained, in the zone's
    layout, with the quick-exit control; never Django's bare page."""
    return _render(request, "too_large.html", status=400)


@require_GET
def languages(request: HttpRequest) -> HttpResponse:
    """The first page: choose a language (nothing is guessed from the address or browser)."""
    return render(request, "reporting/zone/languages.html", {"languages": settings.LANGUAGES,
                                                            "quick_exit_url": settings.TNR_QUICK_EXIT_URL})


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return _render(request, "home.html", {"recipients": actions.recipients()})


# --- self-assessment ----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def assess(request: HttpRequest) -> HttpResponse:
    """Questions, then an explanation; nothing is created on the server."""
    if request.method == "POST":
        form = f.AssessmentForm(request.POST)
        if form.is_valid():
            result = assessment.assess(form.cleaned_data, language=get_language() or "en")
            seed = assessment.seed_report(form.cleaned_data)
            return _render(request, "assess_result.html", {"result": result, "carry": json.dumps(seed, ensure_ascii=False)})
    else:
        form = f.AssessmentForm()
    return _render(request, "assess.html", {"form": form})


# --- the report ---------------------------------------------------------------------------------

# The report's steps, in order ("recipient" only when several organisations receive reports).
STEPS: dict[str, type[forms.Form]] = {
    "recipient": f.RecipientForm,
    "what": f.WhatForm,
    "when": f.WhenWhereForm,
    "whom": f.WhomForm,
    "evidence": f.EvidenceForm,
    "you": f.YouForm,
}
STEP_NAMES = frozenset(STEPS)


def _titles() -> dict[str, str]:
    return {
        "recipient": _("Who receives your report"),
        "what": _("What happened"),
        "when": _("When and where"),
        "whom": _("Who was targeted"),
        "evidence": _("Evidence"),
        "you": _("You, contact and consent"),
    }


def _steps(recipients: list[Organisation]) -> list[str]:
    names = list(STEPS)
    return names if len(recipients) > 1 else names[1:]


def _form_for(step: str, recipients: list[Organisation], data: Any = None, files: Any = None, initial: Any = None) -> forms.Form:
    cls = STEPS[step]
    kwargs: dict[str, Any] = {"initial": initial}
    if cls is f.RecipientForm:
        kwargs["recipients"] = recipients
    return cls(data, files, **kwargs) if data is not None else cls(**kwargs)


def _raw(form: forms.Form, data: Any) -> dict[str, list[str]]:
    return {name: [v for v in data.getlist(name) if v != ""] for name in form.fields}


def _initial(raw: dict[str, list[str]], form: forms.Form) -> dict[str, Any]:
    initial: dict[str, Any] = {}
    for name, field in form.fields.items():
        if name not in raw:
            continue
        values = raw[name]
        if isinstance(field, forms.MultipleChoiceField):
            initial[name] = values
        elif isinstance(field, forms.BooleanField):
            initial[name] = bool(values)
        else:
            initial[name] = values[0] if values else ""
    return initial


class CarryError(Exception):
    pass


def _parse_carry(text: str) -> dict[str, dict[str, list[str]]]:
    """The earlier steps' answers as they came back from the browser, checked strictly: any
    other shape means the page was damaged or tampered with, and the person starts again."""
    if not text:
        return {}
    try:
        carry = json.loads(text)
        json.dumps(carry, ensure_ascii=False).encode("utf-8")  # lone surrogates cannot be stored
    except (ValueError, RecursionError, UnicodeError):
        raise CarryError from None
    if not isinstance(carry, dict):
        raise CarryError
    for step, fields in carry.items():
        if step not in STEP_NAMES or not isinstance(fields, dict):
            raise CarryError
        for values in fields.values():
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise CarryError
    return carry


def _step_page(request: HttpRequest, step: str, steps: list[str], form: forms.Form, carry: dict[str, Any],
               status: int = 200, extra: dict[str, Any] | None = None) -> HttpResponse:
    index = steps.index(step)
    return _render(request, "step.html", {
        "form": form, "step": step, "number": index + 1, "total": len(steps), "title": _titles()[step],
        "carry": json.dumps({k: v for k, v in carry.items() if k != step}, ensure_ascii=False),
        "first": index == 0, "last": index == len(steps) - 1,
        "accepted_files": ACCEPTED, "max_files": settings.TNR_REPORT_MAX_FILES,
        "max_mb": _mb(settings.TNR_REPORT_MAX_FILE_BYTES), **(extra or {}),
    }, status=status)


@require_http_methods(["GET", "POST"])
def report(request: HttpRequest) -> HttpResponse:
    recipients = actions.recipients()
    if not recipients:
        return _render(request, "unavailable.html", status=503)
    steps = _steps(recipients)
    if request.method == "GET":
        return _step_page(request, steps[0], steps, _form_for(steps[0], recipients), {})
    try:
        carry = _parse_carry(request.POST.get("carry", ""))
    except CarryError:
        return _render(request, "start_over.html", status=400)
    step = request.POST.get("step", "")
    if step == "start":  # arriving from the self-assessment with answers to carry over
        first = steps[0]
        return _step_page(request, first, steps, _form_for(first, recipients, initial=_initial(carry.get(first, {}),
                          _form_for(first, recipients))), carry)
    if step not in steps:
        return _render(request, "start_over.html", status=400)
    index = steps.index(step)
    form = _form_for(step, recipients, request.POST, request.FILES)
    if "back" in request.POST and index > 0:
        carry[step] = _raw(form, request.POST)
        previous = steps[index - 1]
        blank = _form_for(previous, recipients)
        return _step_page(request, previous, steps, _form_for(previous, recipients, initial=_initial(carry.get(previous, {}), blank)), carry)
    if not form.is_valid():
        return _step_page(request, step, steps, form, carry, status=200)
    carry[step] = _raw(form, request.POST)
    if index + 1 < len(steps):
        following = steps[index + 1]
        blank = _form_for(following, recipients)
        return _step_page(request, following, steps,
                          _form_for(following, recipients, initial=_initial(carry.get(following, {}), blank)), carry)
    return _submit(request, steps, recipients, carry, form)


def _submit(request: HttpRequest, steps: list[str], recipients: list[Organisation],
            carry: dict[str, dict[str, list[str]]], last_form: forms.Form) -> HttpResponse:
    # Every earlier step is validated again: the carried answers came back from the browser.
    cleaned: dict[str, dict[str, Any]] = {}
    for name in steps:
        data = MultiValueDict(carry.get(name, {}))
        form = _form_for(name, recipients, data)
        if not form.is_valid():
            return _step_page(request, name, steps, form, carry, status=200)
        cleaned[name] = dict(form.cleaned_data)
    checked, refusal = _check_files(request)
    if refusal:
        last_form.add_error(None, refusal)
        return _step_page(request, steps[-1], steps, last_form, carry)
    slug = cleaned.get("recipient", {}).get("organisation") or recipients[0].slug
    organisation = next((o for o in recipients if o.slug == slug), None)
    if organisation is None:
        return _render(request, "start_over.html", status=400)
    you = cleaned["you"]
    answers = {name: _jsonable(values) for name, values in cleaned.items() if name != "recipient"}
    try:
        submitted = actions.submit_report(
            organisation, answers, language=get_language() or "en",
            consent_sharing=you["consent_sharing"], consent_referral=bool(you["consent_referral"]),
            consent_statistics=bool(you["consent_statistics"]), files=checked,
        )
    except actions.ReportingError as exc:
        last_form.add_error(None, _(str(exc)))
        return _step_page(request, steps[-1], steps, last_form, carry)
    files = [{"name": c.name, "stripped": c.stripped} for c in checked]
    return _render(request, "receipt.html", {"receipt": submitted.receipt, "organisation": organisation, "files": files})


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, (list, tuple)):
            out[key] = [str(v) for v in value]
        elif value is None or isinstance(value, (bool, int, str)):
            out[key] = value
        else:
            out[key] = str(value)
    return out


def _mb(size: int) -> str:
    # Decimal megabytes, as phones and tnr.reporting.files count them.
    return f"{size / 1_000_000:.1f}"


def _check_files(request: HttpRequest) -> tuple[list[CheckedFile], str]:
    uploads = request.FILES.getlist("files")
    if getattr(request, TOO_LARGE_ATTR, False):
        return [], _("Your files are too large together: at most %(count)d files of %(mb)s MB each.") % {
            "count": settings.TNR_REPORT_MAX_FILES, "mb": _mb(settings.TNR_REPORT_MAX_FILE_BYTES)}
    limit = int(settings.TNR_REPORT_MAX_FILES)
    if len(uploads) > limit:
        return [], _("You can send at most %(count)d files at once.") % {"count": limit}
    checked = []
    for upload in uploads:
        if upload.size is not None and upload.size > settings.TNR_REPORT_MAX_FILE_BYTES:
            # Refused before reading it into memory.
            return [], _("“%(name)s” is too large: at most %(mb)s MB per file.") % {
                "name": _safe_name(upload.name), "mb": _mb(settings.TNR_REPORT_MAX_FILE_BYTES)}
        try:
            checked.append(check_upload(upload.name or "file", upload.read(), max_bytes=settings.TNR_REPORT_MAX_FILE_BYTES))
        except FileRefused as exc:
            return [], str(exc)
    return checked, ""


def _safe_name(name: str | None) -> str:
    return clean_name(name or "file")


# --- follow-up with the receipt -----------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def followup(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = f.ReceiptForm(request.POST)
        if form.is_valid():
            try:
                granted = actions.sign_in(form.cleaned_data["receipt"])
            except actions.ReceiptRefused as exc:
                form.add_error("receipt", _(str(exc)))
            else:
                response = HttpResponseRedirect(reverse("reporting:thread"))
                access.remember(response, granted)
                return response
    else:
        form = f.ReceiptForm()
    return _render(request, "followup.html", {"form": form})


def _signed_in(request: HttpRequest) -> actions.ReporterAccess:
    granted = access.current(request)
    if granted is None:
        raise _NotSignedIn
    return granted


class _NotSignedIn(Exception):
    pass


def _to_followup(request: HttpRequest) -> HttpResponse:
    response = HttpResponseRedirect(reverse("reporting:followup"))
    access.forget(response)
    return response


@require_http_methods(["GET", "POST"])
def thread(request: HttpRequest) -> HttpResponse:
    try:
        granted = _signed_in(request)
        opened = actions.open_as_reporter(granted)
    except (_NotSignedIn, actions.ReceiptRefused):
        return _to_followup(request)
    form = f.MessageForm()
    notice = ""
    if request.method == "POST":
        form = f.MessageForm(request.POST)
        if form.is_valid():
            checked, refusal = _check_files(request)
            if refusal:
                form.add_error(None, refusal)
            else:
                try:
                    actions.add_reporter_message(granted, form.cleaned_data["text"], checked)
                except actions.ReportingError as exc:
                    form.add_error(None, _(str(exc)))
                else:
                    redirect = HttpResponseRedirect(reverse("reporting:thread") + "?sent=1")
                    access.remember(redirect, granted)
                    return redirect
    elif request.GET.get("sent"):
        notice = _("Your message was sealed and sent.")
    response = _render(request, "thread.html", {
        "thread": opened, "form": form, "notice": notice, "statuses": ReportStatus,
        "status_label": ReportStatus(opened.report.status).label,
        "accepted_files": ACCEPTED, "max_files": settings.TNR_REPORT_MAX_FILES,
        "summary": assessment.describe_answers(opened.answers),
    })
    access.remember(response, granted)  # idle timer restarts
    return response


@require_POST
def withdraw(request: HttpRequest) -> HttpResponse:
    try:
        actions.withdraw_consent(_signed_in(request))
    except (_NotSignedIn, actions.ReceiptRefused):
        return _to_followup(request)
    return HttpResponseRedirect(reverse("reporting:thread"))


@require_POST
def delete(request: HttpRequest) -> HttpResponse:
    try:
        granted = _signed_in(request)
    except _NotSignedIn:
        return _to_followup(request)
    if request.POST.get("confirm") != "yes":
        return HttpResponseRedirect(reverse("reporting:thread"))
    try:
        actions.request_deletion(granted)
    except actions.ReceiptRefused:
        return _to_followup(request)
    return HttpResponseRedirect(reverse("reporting:thread"))


@require_GET
def download(request: HttpRequest, file_id: int) -> HttpResponse:
    try:
        _meta, content = actions.reporter_file(_signed_in(request), file_id)
    except (_NotSignedIn, actions.ReceiptRefused):
        return _to_followup(request)
    except actions.ReportingError:
        raise Http404 from None
    response = HttpResponse(content, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="file-{file_id}"'
    return response


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    response: HttpResponse = HttpResponseRedirect(reverse("reporting:home"))
    access.forget(response)
    return response
