"""Staff pages of the protection mechanisms directory.

Thin: permissions through ``tnr.cases.queries``, search through ``tnr.cases.directory``, every
change through ``tnr.cases.actions``. Plain HTML forms and links; everything works with
JavaScript disabled.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from tnr.cases import actions
from tnr.cases.directory import find_mechanisms
from tnr.cases.forms import ImportForm, MechanismForm, SearchForm
from tnr.cases.models import ProtectionMechanism
from tnr.cases.queries import access_mechanism, can_maintain_directory, require_directory
from tnr.exchange.importer import ImportFailed


@require_safe
@login_required
def directory_search(request: HttpRequest) -> HttpResponse:
    require_directory(request.user, "view")
    form = SearchForm(request.GET)
    # With an invalid filter, list nothing rather than a list that silently ignores it.
    if form.is_valid():
        data = form.cleaned_data
        matches = find_mechanisms(
            country=data["country"] or None,
            needs=[data["need"]] if data["need"] else [],
            profile=[data["profile"]] if data["profile"] else [],
            language=data["language"] or None,
        )
    else:
        matches = []
    context = {
        "form": form,
        "matches": matches,
        "searched_country": form.cleaned_data.get("country") if form.is_valid() else "",
        "can_maintain": can_maintain_directory(request.user),
    }
    return render(request, "cases/directory_search.html", context)


@require_safe
@login_required
def directory_manage(request: HttpRequest) -> HttpResponse:
    require_directory(request.user, "change")
    mechanisms = ProtectionMechanism.objects.order_by("-active", "name")
    return render(request, "cases/directory_manage.html", {"mechanisms": mechanisms})


def _form_page(
    request: HttpRequest, form: MechanismForm, mechanism: ProtectionMechanism | None
) -> HttpResponse:
    return render(request, "cases/mechanism_form.html", {"form": form, "mechanism": mechanism})


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    return [(name, message) for name, found in exc.message_dict.items() for message in found]


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def mechanism_create(request: HttpRequest) -> HttpResponse:
    require_directory(request.user, "change")
    if request.method != "POST":
        return _form_page(request, MechanismForm(initial={"active": True}), None)
    form = MechanismForm(request.POST)
    if form.is_valid():
        try:
            mechanism = actions.create_mechanism(form.to_data(), by=request.user, via="web")
        except ValidationError as exc:
            form.add_problems(_problems(exc))
        else:
            messages.success(request, f"Added “{mechanism.name}” to the directory.")
            return redirect("cases:directory-manage")
    return _form_page(request, form, None)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def mechanism_edit(request: HttpRequest, pk: int) -> HttpResponse:
    mechanism = access_mechanism(request.user, pk, "change")
    if request.method != "POST":
        return _form_page(request, MechanismForm(initial=MechanismForm.initial_from(mechanism)), mechanism)
    form = MechanismForm(request.POST)
    if form.is_valid():
        try:
            actions.update_mechanism(mechanism, form.to_data(), by=request.user, via="web")
        except ValidationError as exc:
            form.add_problems(_problems(exc))
        else:
            messages.success(request, f"Saved “{mechanism.name}”.")
            return redirect("cases:directory-manage")
    return _form_page(request, form, mechanism)


@require_POST
@login_required
def mechanism_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    mechanism = access_mechanism(request.user, pk, "change")
    actions.set_mechanism_active(mechanism, False, by=request.user)
    messages.success(request, f"“{mechanism.name}” is deactivated: it no longer appears in searches.")
    return redirect("cases:directory-manage")


@require_POST
@login_required
def mechanism_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    mechanism = access_mechanism(request.user, pk, "change")
    actions.set_mechanism_active(mechanism, True, by=request.user)
    messages.success(request, f"“{mechanism.name}” is active again.")
    return redirect("cases:directory-manage")


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def directory_import(request: HttpRequest) -> HttpResponse:
    require_directory(request.user, "change")
    report = None
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > settings.TNR_MAX_IMPORT_BYTES:
                form.add_error("file", f"The file is too large ({upload.size:,} bytes); the limit is {settings.TNR_MAX_IMPORT_BYTES:,}.")
            else:
                # The readers work on paths; the upload is copied to a private temporary file
                # that is removed as soon as the import ends.
                with tempfile.TemporaryDirectory(prefix="tnr-directory-") as folder:
                    path = Path(folder) / "upload.csv"
                    with open(path, "wb") as out:
                        for chunk in upload.chunks():
                            out.write(chunk)
                    try:
                        done = actions.import_mechanisms(
                            path, by=request.user, display_name=Path(upload.name).name, via="web_import"
                        )
                    except ImportFailed as exc:
                        report = exc.report
                    else:
                        messages.success(request, done.summary())
                        return redirect("cases:directory-manage")
    else:
        form = ImportForm()
    return render(request, "cases/directory_import.html", {"form": form, "report": report})


@require_safe
@login_required
def directory_export(request: HttpRequest) -> HttpResponse:
    require_directory(request.user, "change")
    stamp = timezone.localdate().isoformat()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="protection-directory-{stamp}.csv"'
    actions.export_mechanisms(response, by=request.user, via="web")
    return response
