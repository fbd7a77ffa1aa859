"""The caseworkers' triage inbox (staff zone): list, open, reply, tag, set status, derive
de-identified incidents, download files, delete; and each organisation's intake settings.

Opening a report needs the organisation key unlocked in this session (tnr.accounts.keys):
without it the page says why and shows nothing sealed. Every opening and download is audited
by the actions it calls.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from tnr.accounts import keys
from tnr.accounts.roles import Perm, can
from tnr.reporting import actions, assessment
from tnr.reporting import staff_forms as sf
from tnr.reporting.choices import ReportStatus
from tnr.reporting.models import Intake, Report
from tnr.reporting.queries import (
    access_intake_admin,
    access_report,
    inbox_organisations,
    reports_for,
)

PAGE_SIZE = 50


@require_safe
def inbox(request: HttpRequest) -> HttpResponse:
    queryset = reports_for(request.user).select_related("organisation")
    status = request.GET.get("status", "")
    if status in ReportStatus.values:
        queryset = queryset.filter(status=status)
    elif status == "open":
        queryset = queryset.exclude(status__in=[ReportStatus.REFERRED, ReportStatus.NOT_TNR, ReportStatus.CLOSED])
    tag = request.GET.get("tag", "").strip()
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    if tag:  # tags are a small JSON list; filtering in Python keeps SQLite and PostgreSQL alike
        rows = [r for r in rows if tag in r.tags]
    organisations = list(inbox_organisations(request.user))
    states = {o.pk: keys.key_status(request, o) for o in organisations}
    return render(request, "reporting/staff/inbox.html", {
        "page": page, "rows": rows, "status": status, "tag": tag, "statuses": ReportStatus.choices,
        "organisations": [(o, states[o.pk]) for o in organisations],
        "intake_admin": [o for o in organisations if can(request.user, o, Perm.MANAGE_MEMBERS)],
    })


def _opened(request: HttpRequest, report: Report) -> tuple[bytes | None, str]:
    status, private = keys.unlock_state(request, report.organisation)
    return private, status.message


@require_safe
def detail(request: HttpRequest, uid: str) -> HttpResponse:
    report = access_report(request.user, uid)
    private, why = _opened(request, report)
    if private is None:
        return render(request, "reporting/staff/locked.html", {"report": report, "why": why}, status=403)
    thread = actions.open_as_staff(request.user, report, private)
    may_change = can(request.user, report.organisation_id, Perm.CHANGE_RECORDS)
    derived = actions.derived_incident_uids(report, private)
    return render(request, "reporting/staff/detail.html", {
        "report": report, "thread": thread, "summary": assessment.describe_answers(thread.answers),
        "may_change": may_change, "reply_form": sf.ReplyForm(),
        "status_form": sf.StatusForm(initial={"status": report.status}),
        "tags_form": sf.TagsForm(initial={"tags": ", ".join(report.tags)}),
        "derived": derived,
    })


def _back(report: Report) -> HttpResponse:
    return redirect("reporting_staff:detail", uid=report.uid)


@require_POST
def reply(request: HttpRequest, uid: str) -> HttpResponse:
    report = access_report(request.user, uid, "change")
    form = sf.ReplyForm(request.POST)
    if form.is_valid():
        try:
            actions.reply(request.user, report, form.cleaned_data["text"])
        except actions.ReportingError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Reply sealed and sent. The reporter sees it when they sign in with their receipt.")
    else:
        messages.error(request, "Write a message.")
    return _back(report)


@require_POST
def status(request: HttpRequest, uid: str) -> HttpResponse:
    report = access_report(request.user, uid, "change")
    form = sf.StatusForm(request.POST)
    if form.is_valid():
        actions.set_status(request.user, report, form.cleaned_data["status"])
        messages.success(request, f"Status set to “{report.get_status_display()}”.")
    else:
        messages.error(request, "Unknown status.")
    return _back(report)


@require_POST
def tags(request: HttpRequest, uid: str) -> HttpResponse:
    report = access_report(request.user, uid, "change")
    form = sf.TagsForm(request.POST)
    if form.is_valid():
        try:
            actions.set_tags(request.user, report, form.cleaned_data["tags"])
        except actions.ReportingError as exc:
            messages.error(request, str(exc))
    return _back(report)


@require_http_methods(["GET", "POST"])
def derive(request: HttpRequest, uid: str) -> HttpResponse:
    report = access_report(request.user, uid, "change")
    private, why = _opened(request, report)
    if private is None:
        return render(request, "reporting/staff/locked.html", {"report": report, "why": why}, status=403)
    if request.method == "POST":
        form = sf.DeriveForm(request.POST)
        if form.is_valid():
            try:
                incident = actions.derive_incident(request.user, report, form.cleaned_data)
            except actions.ReportingError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Incident {incident.external_id} created; its link to this report is sealed.")
                return redirect("records:incident-detail", uid=incident.uid)
    else:
        thread = actions.open_as_staff(request.user, report, private)
        form = sf.DeriveForm(initial=sf.derive_initial(thread.answers))
    return render(request, "reporting/staff/derive.html", {"report": report, "form": form})


@require_safe
def download(request: HttpRequest, uid: str, file_id: int, which: str) -> HttpResponse:
    report = access_report(request.user, uid)
    private, why = _opened(request, report)
    if private is None:
        return render(request, "reporting/staff/locked.html", {"report": report, "why": why}, status=403)
    if which not in ("working", "original"):
        return HttpResponse(status=404)
    try:
        meta, content = actions.staff_file(request.user, report, file_id, which, private)
    except actions.ReportingError:
        return HttpResponse(status=404)
    # Always a download, never rendered inline: a file from outside is untrusted content.
    media_type = meta.get("media_type") or "application/octet-stream"
    response = HttpResponse(content, content_type="application/octet-stream")
    extension = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "application/pdf": "pdf",
                 "text/plain": "txt"}.get(media_type, "bin")
    response["Content-Disposition"] = f'attachment; filename="report-file-{file_id}-{which}.{extension}"'
    return response


@require_POST
def delete(request: HttpRequest, uid: str) -> HttpResponse:
    report = access_report(request.user, uid, "change")
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the box to confirm the deletion.")
        return _back(report)
    actions.delete_report(request.user, report)
    messages.success(request, "The report, its messages and its files were deleted.")
    return redirect("reporting_staff:inbox")


@require_http_methods(["GET", "POST"])
def intake(request: HttpRequest, slug: str) -> HttpResponse:
    organisation = access_intake_admin(request.user, slug)
    instance = Intake.objects.filter(organisation=organisation).first() or Intake(organisation=organisation, accepting=False)
    form = sf.IntakeForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        actions.save_intake(request.user, form)
        messages.success(request, "Saved.")
        return redirect("reporting_staff:intake", slug=organisation.slug)
    context: dict[str, Any] = {"organisation": organisation, "form": form}
    return render(request, "reporting/staff/intake.html", context)
