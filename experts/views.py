"""Pages of the supply side: the expert's profile editor, the operators' credential queue,
and the companies' expert directory. Views parse, call one service, respond."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from experts import selectors, services
from experts.forms import (
    AvailabilityForm,
    CredentialForm,
    CredentialQueueFilterForm,
    CredentialRejectForm,
    DirectoryFilterForm,
    ProfileBasicsForm,
    SpecializationForm,
    TimeOffForm,
)
from marketplace.permissions import (
    company_required,
    expert_required,
    operator_has_mfa,
    operator_required,
)
from marketplace.rendering import markdown_to_safe_html
from marketplace.templatetags.inloop import querystring_without

PAGE_SIZE = 20


def _apply_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


# Expert: profile editor ---------------------------------------------------------------------


def _basics_initial(expert) -> dict:
    return {
        "display_name": expert.display_name,
        "headline": expert.headline,
        "bio": expert.bio,
        "languages": ", ".join(expert.languages or []),
        "hourly_rate": None
        if expert.hourly_rate_cents is None
        else f"{expert.hourly_rate_cents / 100:.2f}",
        "timezone": expert.timezone,
        "max_concurrent": expert.max_concurrent,
        "accepting_work": expert.accepting_work,
    }


def _render_profile(request, expert, *, status: int = 200, **forms):
    expert = selectors.expert_profile_detail(expert=expert)
    context = {
        "expert": expert,
        "completeness": selectors.expert_profile_completeness(expert=expert),
        "basics_form": forms.get("basics_form")
        or ProfileBasicsForm(initial=_basics_initial(expert)),
        "specialization_form": forms.get("specialization_form") or SpecializationForm(),
        "availability_form": forms.get("availability_form")
        or AvailabilityForm(initial=AvailabilityForm.initial_from(expert.availability.all())),
        "time_off_form": forms.get("time_off_form") or TimeOffForm(),
        "credential_form": forms.get("credential_form") or CredentialForm(),
        "bio_preview": forms.get("bio_preview"),
        "bio_html": markdown_to_safe_html(expert.bio),
        "today": timezone.localdate(),
    }
    return render(request, "experts/profile.html", context, status=status)


# The profile page's forms all post to the page itself, each naming its section: a failed form is
# shown again at /expert/profile/, so a reload (or a return to the address) is a GET of the page,
# never a 405 of an action URL. Removals are buttons that redirect whatever happens.


@expert_required
@require_http_methods(["GET", "POST"])
def profile(request):
    expert = services.expert_profile_ensure(user=request.user)
    if request.method == "GET":
        return _render_profile(request, expert)
    section = request.POST.get("section")
    handlers = {
        "basics": _profile_basics,
        "specialization": _profile_specialization_add,
        "availability": _profile_availability,
        "time_off": _profile_time_off_add,
        "credential": _profile_credential_add,
    }
    if section not in handlers:
        messages.error(request, "That form is out of date: nothing was saved. Try again.")
        return redirect("expert_profile")
    return handlers[section](request, expert)


def _profile_basics(request, expert):
    form = ProfileBasicsForm(request.POST)
    if request.POST.get("action") == "preview":
        preview = markdown_to_safe_html(request.POST.get("bio", ""))
        form.is_valid()
        return _render_profile(request, expert, basics_form=form, bio_preview=preview)
    if form.is_valid():
        try:
            services.expert_profile_update(
                expert=expert,
                display_name=form.cleaned_data["display_name"],
                headline=form.cleaned_data["headline"],
                bio=form.cleaned_data["bio"],
                languages=form.language_list(),
                hourly_rate_cents=form.rate_cents(),
                timezone_name=form.cleaned_data["timezone"],
                max_concurrent=form.cleaned_data["max_concurrent"],
                accepting_work=form.cleaned_data["accepting_work"],
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Profile saved.")
            return redirect("expert_profile")
    return _render_profile(request, expert, status=400, basics_form=form)


def _profile_specialization_add(request, expert):
    form = SpecializationForm(request.POST)
    if form.is_valid():
        try:
            item = services.expert_specialization_add(
                expert=expert,
                specialization_slug=form.cleaned_data["specialization"],
                years=form.cleaned_data["years"],
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"{item.specialization.name} saved.")
            return redirect("expert_profile")
    return _render_profile(request, expert, status=400, specialization_form=form)


@expert_required
@require_POST
def profile_specialization_remove(request, pk: int):
    expert = services.expert_profile_ensure(user=request.user)
    try:
        services.expert_specialization_remove(expert=expert, pk=pk)
    except ValidationError as exc:
        raise Http404(str(exc)) from exc
    messages.success(request, "Specialization removed.")
    return redirect("expert_profile")


def _profile_availability(request, expert):
    form = AvailabilityForm(request.POST)
    if form.is_valid():
        try:
            services.expert_availability_set(expert=expert, windows=form.cleaned_data["windows"])
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Weekly availability saved.")
            return redirect("expert_profile")
    return _render_profile(request, expert, status=400, availability_form=form)


def _profile_time_off_add(request, expert):
    form = TimeOffForm(request.POST)
    if form.is_valid():
        try:
            services.time_off_add(expert=expert, **form.cleaned_data)
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Time off added: no offers on those days.")
            return redirect("expert_profile")
    return _render_profile(request, expert, status=400, time_off_form=form)


@expert_required
@require_POST
def profile_time_off_remove(request, pk: int):
    expert = services.expert_profile_ensure(user=request.user)
    try:
        services.time_off_remove(expert=expert, pk=pk)
    except ValidationError as exc:
        raise Http404(str(exc)) from exc
    messages.success(request, "Time off removed.")
    return redirect("expert_profile")


def _profile_credential_add(request, expert):
    form = CredentialForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.credential_create(
                expert=expert,
                kind=data["kind"],
                field_slug=data["field"],
                issuer=data["issuer"],
                number=data["number"],
                jurisdiction=data["jurisdiction"],
                expires_on=data["expires_on"],
                document=data["document"],
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Credential submitted; an operator will review it.")
            return redirect("expert_profile")
    return _render_profile(request, expert, status=400, credential_form=form)


@login_required
@require_GET
def credential_document(request, pk: int):
    """The uploaded document: its expert and operators (with two-factor) only; 404 otherwise."""
    credential = selectors.credential_get_for_user(user=request.user, pk=pk)
    if request.user.is_operator and not operator_has_mfa(request.user):
        raise Http404("No such credential")
    if not credential.document:
        raise Http404("No document")
    extension = credential.document.name.rsplit(".", 1)[-1]
    response = FileResponse(
        credential.document.open("rb"),
        as_attachment=True,
        filename=f"credential-{credential.pk}.{extension}",
        content_type=credential.document_content_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# Operators: credential queue --------------------------------------------------------------


@operator_required
@require_GET
def console_credentials(request):
    form = CredentialQueueFilterForm(request.GET or {"status": "pending"})
    filters = form.cleaned_data if form.is_valid() else {"status": "pending", "field": "", "q": ""}
    queryset = selectors.credential_queue(
        status=filters.get("status", ""), field=filters.get("field", ""), q=filters.get("q", "")
    )
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "experts/console_credentials.html",
        {
            "form": form,
            "page_obj": page,
            "querystring": querystring_without({"request": request}, "page"),
            "today": timezone.localdate(),
        },
    )


@operator_required
@require_GET
def console_credential(request, pk: int):
    credential = selectors.credential_get_for_operator(pk=pk)
    return render(
        request,
        "experts/console_credential.html",
        {
            "credential": credential,
            "reject_form": CredentialRejectForm(),
            "today": timezone.localdate(),
        },
    )


@operator_required
@require_POST
def console_credential_verify(request, pk: int):
    credential = selectors.credential_get_for_operator(pk=pk)
    try:
        services.credential_verify(credential=credential, operator=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"Verified {credential.get_kind_display()} of {credential.expert}."
        )
    return redirect("console_credentials")


@operator_required
@require_POST
def console_credential_reject(request, pk: int):
    """A refusal goes back to the credential's page with a message (post/redirect/get), so a
    reload asks for that page, never for this POST-only URL (a blank 405)."""
    credential = selectors.credential_get_for_operator(pk=pk)
    form = CredentialRejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the reason the expert will read.")
        return redirect("console_credential", pk=pk)
    try:
        services.credential_reject(
            credential=credential, operator=request.user, reason=form.cleaned_data["reason"]
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("console_credential", pk=pk)
    messages.success(request, f"Rejected; {credential.expert} was told why.")
    return redirect("console_credentials")


# Companies: directory and public profiles -------------------------------------------------


@company_required
@require_GET
def directory(request):
    form = DirectoryFilterForm(request.GET)
    filters = form.cleaned_data if form.is_valid() else {}
    queryset = selectors.expert_directory(
        specialization=filters.get("specialization") or "",
        min_rate_cents=None if filters.get("min_rate") is None else filters["min_rate"] * 100,
        max_rate_cents=None if filters.get("max_rate") is None else filters["max_rate"] * 100,
        language=filters.get("language") or "",
        verified_only=bool(filters.get("verified")),
        available_now=bool(filters.get("available")),
    )
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "experts/directory.html",
        {
            "form": form,
            "page_obj": page,
            "querystring": querystring_without({"request": request}, "page"),
            "filtered": any(v not in (None, "", False) for v in filters.values()),
        },
    )


@company_required
@require_GET
def public_profile(request, pk):
    expert = selectors.expert_get_public(pk=pk)
    return render(
        request,
        "experts/public_profile.html",
        {
            "expert": expert,
            "bio_html": markdown_to_safe_html(expert.bio),
            "blocked": selectors.company_blocks_expert(
                organization_id=request.organization.pk, expert_id=expert.pk
            ),
            "is_admin": request.membership.is_admin,
            "standings": selectors.expert_standings(expert=expert),
        },
    )


@company_required(admin=True)
@require_http_methods(["POST"])
def public_profile_block(request, pk):
    expert = selectors.expert_get_public(pk=pk)
    block = request.POST.get("action") != "unblock"
    services.company_block_set(
        organization=request.organization, expert_id=expert.pk, blocked=block, actor=request.user
    )
    if block:
        messages.success(request, f"{expert.display_name} will not be offered your requests.")
    else:
        messages.success(request, f"{expert.display_name} can be offered your requests again.")
    return redirect("company_expert", pk=expert.pk)
