"""The audit log's staff pages: list and filter, export as CSV, verify the chain.

Only an organisation's administrators read its audit log (``tnr.core.audit.entries_for``);
anyone else who is signed in gets 403. Pages are plain forms and links, no JavaScript.
"""

from __future__ import annotations

import csv
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from tnr.accounts.models import Organisation
from tnr.core import audit
from tnr.core.choices import AuditAction
from tnr.core.models import AuditEntry

PAGE_SIZE = 50


class AuditFilterForm(forms.Form):
    """Filters of the audit list; the same query string filters the CSV export."""

    organisation = forms.ModelChoiceField(
        queryset=Organisation.objects.none(), required=False, empty_label="All my organisations",
        to_field_name="slug",
    )
    action = forms.ChoiceField(choices=[("", "Any action"), *AuditAction.choices], required=False)
    actor = forms.CharField(required=False, max_length=150, label="Done by (username)")
    object_type = forms.CharField(required=False, max_length=100, label="Record type",
                                  help_text="e.g. records.incident")  # fmt: skip
    object_id = forms.CharField(required=False, max_length=100, label="Record id")
    date_from = forms.DateField(required=False, label="From (UTC)", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To (UTC, inclusive)", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, organisations: QuerySet[Organisation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = organisations  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise ValidationError("The start date is after the end date.")
        return data

    @property
    def is_filtered(self) -> bool:
        return self.is_valid() and any(self.cleaned_data.get(name) for name in self.fields)


def filter_entries(entries: QuerySet[AuditEntry], data: dict[str, Any]) -> QuerySet[AuditEntry]:
    if data.get("organisation"):
        entries = entries.filter(organisation=data["organisation"])
    if data.get("action"):
        entries = entries.filter(action=data["action"])
    if data.get("actor"):
        entries = entries.filter(actor_username__iexact=data["actor"].strip())
    if data.get("object_type"):
        entries = entries.filter(object_type=data["object_type"].strip().lower())
    if data.get("object_id"):
        entries = entries.filter(object_id=data["object_id"].strip())
    if data.get("date_from"):
        entries = entries.filter(created_at__gte=_midnight(data["date_from"]))
    if data.get("date_to"):
        entries = entries.filter(created_at__lt=_midnight(data["date_to"] + dt.timedelta(days=1)))
    return entries


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def _administered(request: HttpRequest) -> QuerySet[Organisation]:
    """The user's administered organisations; 403 when there are none."""
    organisations = audit.administered_organisations(request.user)
    if not organisations.exists():
        raise PermissionDenied("Only an organisation's administrators can read its audit log.")
    return organisations


def _filtered(request: HttpRequest) -> tuple[AuditFilterForm, QuerySet[Organisation], QuerySet[AuditEntry]]:
    organisations = _administered(request)
    form = AuditFilterForm(request.GET, organisations=organisations)
    visible = audit.entries_for(request.user)
    # With an invalid filter, list nothing rather than a list that silently ignores it.
    entries = filter_entries(visible, form.cleaned_data) if form.is_valid() else visible.none()
    return form, organisations, entries


@require_safe
@login_required
def audit_list(request: HttpRequest) -> HttpResponse:
    form, organisations, entries = _filtered(request)
    page = Paginator(entries.order_by("-created_at", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    slugs = dict(organisations.values_list("pk", "slug"))
    rows = [(entry, slugs.get(entry.organisation_id or 0, ""), entry.intact, _link(entry)) for entry in page.object_list]
    context = {
        "form": form,
        "page_obj": page,
        "rows": rows,
        "altered": sum(1 for _, _, intact, _ in rows if not intact),
        "total": page.paginator.count,
        "several": len(slugs) > 1,
    }
    return render(request, "core/audit_list.html", context)


def _link(entry: AuditEntry) -> str:
    """The page of the record an entry is about, where there is one (opening it is audited)."""
    if entry.object_type == "records.incident":
        try:
            return reverse("records:incident-detail", args=[uuid.UUID(entry.object_id)])
        except ValueError:
            return ""
    return ""


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


@require_safe
@login_required
def audit_export(request: HttpRequest) -> HttpResponseBase:
    """The filtered entries as CSV, with hashes (unfiltered, it verifies with ``tnr audit verify --file``)."""
    form, _organisations, entries = _filtered(request)
    if not form.is_valid():
        return audit_list(request)
    entries = entries.order_by("organisation_id", "seq")
    # Exporting the audit log is itself recorded, in each chain exported, before any data
    # leaves; the entries recorded here are in the file only if the filters include them.
    chains = sorted(set(entries.values_list("organisation_id", flat=True).order_by().distinct()))
    filters = sorted(name for name, value in form.cleaned_data.items() if value and name != "organisation")
    with transaction.atomic():
        for organisation_id in chains:
            audit.record(
                request.user, AuditAction.EXPORT, organisation=organisation_id,
                object_type="core.auditentry", summary="Audit log exported as CSV",
                data={"filters": filters},
            )

    def lines() -> Iterator[str]:
        writer = csv.writer(_Echo(), lineterminator="\n")
        yield writer.writerow(audit.EXPORT_FIELDS)
        for row in audit.export_rows(entries):
            yield writer.writerow([audit._csv_cell(row[name]) for name in audit.EXPORT_FIELDS])

    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


@require_POST
@login_required
def audit_verify(request: HttpRequest) -> HttpResponse:
    """Verify the chains of the user's organisations now and show the outcome."""
    organisations = list(_administered(request).order_by("name"))
    reports = [(org, audit.verify_chain(org)) for org in organisations]
    return render(request, "core/audit_verify.html", {"reports": reports, "ok": all(r.ok for _, r in reports)})
