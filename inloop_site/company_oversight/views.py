"""The company's oversight pages: its policies, one policy (its rules as an ordered editable list,
its versions and what each changed, its figures per week) and the simulator. Members read and
simulate; owners and admins change (a new version each time, through oversight's services).

The rules editor works without JavaScript: add, remove and move buttons post the rows as typed
and get them back rearranged (nothing is saved); "Save" checks every row with oversight's rule
models and puts each error next to its field."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from experts.selectors import specialization_list
from inloop_site.company_oversight import charts
from inloop_site.company_oversight.forms import (
    NewPolicyForm,
    PeriodForm,
    RuleFormSet,
    VersionNoteForm,
    rows_apply,
    rows_from_post,
    rule_initial,
)
from inloop_site.company_oversight.starters import starter_choices, starter_rules
from marketplace.permissions import company_required
from oversight import selectors as policy_selectors
from oversight import services as policy_services
from oversight.rules import rules_parse
from oversight.rules_text import rule_text, rules_diff
from review_requests.oversight_selectors import oversight_figures
from review_requests.oversight_simulator import oversight_simulate, simulation_to_api

FIGURES_DAYS = 12 * 7
SIMULATE_DAYS = 30


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _policy_or_404(request, name: str, *, with_versions: bool = False):
    """The organization's policy of that name; another organization's (or none) is a 404."""
    fetch = (
        policy_selectors.policy_with_versions
        if with_versions
        else policy_selectors.policy_get_for_organization
    )
    policy = fetch(organization=request.organization, name=name)
    if policy is None:
        raise Http404("No such oversight policy")
    return policy


def _specializations() -> list[tuple[str, str]]:
    return [(s.slug, f"{s.name} ({s.slug})") for s in specialization_list()]


def _editor(request, rules: list[dict]):
    """The rules formset: bound to the POST when saving or simulating, rebuilt from the rows
    as typed after an add/remove/move, else from `rules`. Returns (formset, op)."""
    specializations = _specializations()
    op = request.POST.get("op", "") if request.method == "POST" else ""
    if op in ("save", "simulate"):
        return RuleFormSet(request.POST, specializations=specializations), op
    if request.method == "POST":
        rows = rows_apply(rows_from_post(request.POST), op)
    else:
        rows = [rule_initial(rule) for rule in rules]
    return RuleFormSet(initial=rows, specializations=specializations), op


def _checked(formset) -> list[dict] | None:
    return formset.checked_rules() if formset.is_valid() else None


@company_required
@require_http_methods(["GET", "POST"])
def oversight_policies(request):
    form = NewPolicyForm(request.POST or None, starters=starter_choices())
    if request.method == "POST":
        if not request.membership.is_admin:
            raise PermissionDenied("Only owners and admins can add policies.")
        if form.is_valid():
            try:
                policy = policy_services.policy_create(
                    organization=request.organization,
                    name=form.cleaned_data["name"],
                    rules=starter_rules(form.cleaned_data["starter"]),
                    is_default=form.cleaned_data["is_default"],
                    note="Started from: " + dict(starter_choices())[form.cleaned_data["starter"]],
                    actor=request.user,
                )
            except ValidationError as exc:
                form.add_error("name", _error_text(exc))
            else:
                messages.success(request, f"Policy {policy.name} created.")
                return redirect("oversight_policy", name=policy.name)
    policies = policy_selectors.policy_list(organization=request.organization)
    return render(
        request,
        "oversight/policies.html",
        {"policies": policies, "form": form, "is_admin": request.membership.is_admin},
    )


def _versions(versions) -> list[dict]:
    """Every version (given newest first), newest first, with what it changed from the one
    before."""
    versions = sorted(versions, key=lambda version: version.number)
    rows, previous = [], None
    for version in versions:
        changes = rules_diff(previous.rules, version.rules) if previous else []
        rows.append({"version": version, "changes": changes})
        previous = version
    return rows[::-1]


def _figures_context(request, policy, current) -> dict:
    period = PeriodForm(request.GET or None, default_days=FIGURES_DAYS)
    first, last = period.period()
    order = [rule["name"] for rule in current.rules] if current else []
    figures = oversight_figures(policy=policy, first=first, last=last, rule_order=order)
    labels = [f"{monday:%b %d}" for monday, _ in figures.weeks]
    return {
        "period_form": period,
        "figures": figures,
        "items_chart": charts.items_by_week_chart(
            labels=labels,
            sent=[counts.sent_to_review for _, counts in figures.weeks],
            auto=[counts.auto_approved for _, counts in figures.weeks],
        ),
        "miss_chart": charts.miss_rate_chart(
            labels=labels, shares=[counts.audit_miss for _, counts in figures.weeks]
        ),
    }


@company_required
@require_http_methods(["GET", "POST"])
def oversight_policy(request, name: str):
    policy = _policy_or_404(request, name, with_versions=True)
    versions = list(policy.versions.all())  # prefetched, newest first
    current = versions[0] if versions else None
    is_admin = request.membership.is_admin
    if request.method == "POST" and not is_admin:
        raise PermissionDenied("Only owners and admins can change a policy.")
    formset, op = _editor(request, current.rules if current else [])
    note = VersionNoteForm(request.POST if op == "save" else None)
    if op == "save":
        rules = _checked(formset)
        if rules is not None and note.is_valid():
            try:
                version = policy_services.policy_version_add(
                    policy=policy, rules=rules, note=note.cleaned_data["note"], actor=request.user
                )
            except ValidationError as exc:
                formset.list_errors.extend(exc.messages)
            else:
                messages.success(request, f"Saved as version {version.number} of {policy.name}.")
                return redirect("oversight_policy", name=policy.name)
    elif op:
        messages.info(request, "Rules rearranged, not saved yet: save to keep them.")
    context = {
        "policy": policy,
        "current": current,
        "rules_text": [rule_text(rule) for rule in (current.rules if current else [])],
        "formset": formset,
        "note_form": note,
        "is_admin": is_admin,
        "versions": _versions(versions),
        **_figures_context(request, policy, current),
    }
    return render(request, "oversight/policy.html", context)


@company_required(admin=True)
@require_POST
def oversight_policy_default(request, name: str):
    policy = _policy_or_404(request, name)
    try:
        policy_services.policy_set_default(policy=policy, actor=request.user)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"{policy.name} is now the default policy.")
    return redirect("oversight_policy", name=policy.name)


@company_required
@require_http_methods(["GET", "POST"])
def oversight_policy_simulate(request, name: str):
    """Members may simulate too: it reads stored items and changes nothing."""
    policy = _policy_or_404(request, name)
    current = policy.current_version()
    formset, op = _editor(request, current.rules if current else [])
    period = PeriodForm(request.POST or None, default_days=SIMULATE_DAYS)
    result = simulation = None
    if op == "simulate" and period.is_valid():
        rules = _checked(formset)
        if rules is not None:
            first, last = period.period()
            parsed = rules_parse(rules)
            simulation = oversight_simulate(
                organization=request.organization,
                policy=policy,
                rules=parsed,
                first=first,
                last=last,
            )
            result = simulation_to_api(simulation, parsed)
    return render(
        request,
        "oversight/simulate.html",
        {
            "policy": policy,
            "current": current,
            "formset": formset,
            "period_form": period,
            "result": result,
            "miss": simulation.miss if simulation else None,
            "miss_all": simulation.miss_all_reviewed if simulation else None,
            "is_admin": request.membership.is_admin,
        },
    )
