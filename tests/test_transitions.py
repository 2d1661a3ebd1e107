"""One way to change state: every stateful model declares TRANSITIONS and a StatusHistory model,
and only marketplace/transitions.py writes a status field (AST scan of the application code);
plus the helper's own behaviour (an illegal move, a lost race, the history row)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.apps import apps
from django.db.models.query_utils import DeferredAttribute

from billing.models import PlatformHoldGrant
from marketplace.models import StatusHistory
from marketplace.transitions import InvalidTransition, record_initial, transition, transition_many

ROOT = Path(__file__).resolve().parent.parent
OUR_APPS = (
    "marketplace",
    "experts",
    "billing",
    "oversight",
    "review_requests",
    "evidence",
    "datasets",
)
HELPER = ROOT / "marketplace" / "transitions.py"

# Statuses our code may write without the helper, each because a library owns the state machine:
EXEMPT_FILES = {
    # django_tasks_db's DBTaskResult.status (READY/RUNNING/FAILED): the lease recovery hands a
    # dead worker's task back with a conditional update on the library's own model and states.
    ROOT / "marketplace" / "worker_lease.py",
}


def _application_files() -> list[Path]:
    roots = [ROOT / name for name in (*OUR_APPS, "inloop_site")]
    files = [path for root in roots if root.is_dir() for path in root.rglob("*.py")]
    return sorted(
        path
        for path in files
        if "migrations" not in path.parts and path != HELPER and path not in EXEMPT_FILES
    )


def _stateful_models():
    return [model for model in apps.get_models() if hasattr(model, "TRANSITIONS")]


def _has_status_field(model) -> bool:
    return isinstance(getattr(model, "status", None), DeferredAttribute)


def _initial_states(model) -> set[str]:
    """States no transition leads to, plus the field's default: where a row may be born."""
    reached = {target for targets in model.TRANSITIONS.values() for target in targets}
    initial = set(model.TRANSITIONS) - reached
    default = model.status.field.default
    if isinstance(default, str):
        initial.add(default)
    return initial


def test_every_model_with_a_status_has_a_table_and_a_history():
    ours = [
        model
        for model in apps.get_models()
        if model.__module__.split(".")[0] in OUR_APPS and _has_status_field(model)
    ]
    assert len(ours) >= 12
    for model in ours:
        assert hasattr(model, "TRANSITIONS"), f"{model.__name__} has a status but no TRANSITIONS"
    for model in _stateful_models():
        values = set(model.Status.values)
        assert set(model.TRANSITIONS) == values, model.__name__
        for targets in model.TRANSITIONS.values():
            assert targets <= values, model.__name__
        history = model.history.field.model
        assert issubclass(history, StatusHistory), model.__name__


def test_every_history_is_in_the_admin_read_only(rf):
    from django.contrib import admin

    from marketplace.admin_readonly import StatusHistoryAdmin

    request = rf.get("/admin/")
    for model in _stateful_models():
        history = model.history.field.model
        model_admin = admin.site.get_model_admin(history)
        assert isinstance(model_admin, StatusHistoryAdmin), history.__name__
        assert not model_admin.has_change_permission(request), history.__name__
        assert model_admin.get_list_display(request)[0] == model.history.field.name


class StatusWrites(ast.NodeVisitor):
    """Finds writes of a status field: `x.status = ...`, `.update(status=...)`, `save(
    update_fields=[..."status"...])`, `bulk_update(..., ["status"])`, `setattr(x, "status",
    ...)`, raw `SET status`, and a stateful model built with a status that is not initial."""

    def __init__(self, stateful: dict[str, set[str]]):
        self.stateful = stateful  # model name -> initial states
        self.found: list[tuple[int, str]] = []
        self.classes: list[str] = []

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.classes.append(node.name)
        self.generic_visit(node)
        self.classes.pop()

    def _target(self, target: ast.expr, line: int) -> None:
        if isinstance(target, ast.Attribute) and target.attr == "status":
            on_self = isinstance(target.value, ast.Name) and target.value.id == "self"
            # `self.status` of an exception or a result object is an HTTP status, not a model's.
            if not on_self or (self.classes and self.classes[-1] in self.stateful):
                self.found.append((line, f"assigns {ast.unparse(target)}"))

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._target(target, node.lineno)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target, node.lineno)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and "set status" in " ".join(node.value.lower().split()):
            self.found.append((node.lineno, "SQL sets status"))

    def visit_Call(self, node: ast.Call) -> None:
        name = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        if isinstance(node.func, ast.Name):
            name = node.func.id
        keywords = {kw.arg: kw.value for kw in node.keywords if kw.arg}
        if name == "update" and "status" in keywords:
            self.found.append((node.lineno, "update(status=...)"))
        if name == "save" and _names_status(keywords.get("update_fields")):
            self.found.append((node.lineno, "save(update_fields=[...'status'...])"))
        if name == "bulk_update" and any(_names_status(arg) for arg in node.args[1:]):
            self.found.append((node.lineno, "bulk_update(..., ['status'])"))
        if name == "bulk_update" and _names_status(keywords.get("fields")):
            self.found.append((node.lineno, "bulk_update(fields=['status'])"))
        if name == "setattr" and len(node.args) > 1 and _is_text(node.args[1], "status"):
            self.found.append((node.lineno, "setattr(..., 'status', ...)"))
        model = _built_model(node, set(self.stateful))
        if model is not None and "status" in keywords:
            value = _state_value(keywords["status"])
            if value not in self.stateful[model]:
                self.found.append((node.lineno, f"{model} made in state {value or '?'}"))
        self.generic_visit(node)


def _is_text(node, text: str) -> bool:
    return isinstance(node, ast.Constant) and node.value == text


def _names_status(node) -> bool:
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return any(_is_text(element, "status") for element in node.elts)
    return False


def _built_model(node: ast.Call, stateful: set[str]) -> str | None:
    """`Offer(...)`, `Offer.objects.create(...)`, `Offer.objects.get_or_create(...)`."""
    func = node.func
    if isinstance(func, ast.Name) and func.id in stateful:
        return func.id
    if isinstance(func, ast.Attribute) and func.attr in {
        "create",
        "get_or_create",
        "update_or_create",
    }:
        base = func.value
        owner = base.value if isinstance(base, ast.Attribute) else None
        if isinstance(owner, ast.Name) and owner.id in stateful:
            return owner.id
    return None


def _state_value(node) -> str | None:
    """ "open" or `Offer.Status.OPEN` / `Status.OPEN` -> "open"; anything computed -> None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Attribute) and node.attr.isupper():
        return node.attr.lower()
    return None


def test_only_the_transition_helper_writes_a_status():
    stateful = {model.__name__: _initial_states(model) for model in _stateful_models()}
    files = _application_files()
    assert ROOT / "review_requests" / "services.py" in files
    problems = []
    for path in files:
        finder = StatusWrites(stateful)
        finder.visit(ast.parse(path.read_text(), filename=str(path)))
        problems += [f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in finder.found]
    assert problems == [], "status written outside marketplace/transitions.py:\n" + "\n".join(
        problems
    )


@pytest.mark.parametrize(
    ("source", "count"),
    [
        ("offer.status = 'taken'", 1),
        ("Offer.objects.filter(pk=1).update(status='taken')", 1),
        ("offer.save(update_fields=['status', 'responded_at'])", 1),
        ("Offer.objects.bulk_update(offers, ['status'])", 1),
        ("setattr(offer, 'status', 'taken')", 1),
        ("cursor.execute('UPDATE x SET  status = %s')", 1),
        ("Offer(review_request=rr, status=Offer.Status.TAKEN)", 1),
        ("Offer.objects.create(status=state)", 1),
        ("Offer.objects.create(status=Offer.Status.OPEN)", 0),
        ("Offer.objects.filter(status='open').count()", 0),
        (
            "class Refused(Exception):\n    def __init__(self, status):\n        self.status = status",
            0,
        ),
    ],
)
def test_the_scan_sees_each_kind_of_status_write(source, count):
    finder = StatusWrites({"Offer": {"open"}})
    finder.visit(ast.parse(source))
    assert len(finder.found) == count, finder.found


# The helper ------------------------------------------------------------------------------------


@pytest.fixture
def grant(organization):
    return PlatformHoldGrant.objects.create(
        source_ref="test:grant", scope="test:scope", organization=organization, reason="test"
    )


@pytest.mark.django_db
def test_it_moves_the_row_and_leaves_one_history_row(grant, operator):
    came_from = transition(grant, "held", actor=operator, reason="an accept", used_at=None)
    assert came_from == "open"
    assert grant.status == "held"
    assert PlatformHoldGrant.objects.get(pk=grant.pk).status == "held"
    row = grant.history.get()
    assert (row.from_status, row.to_status, row.actor, row.reason) == (
        "open",
        "held",
        operator,
        "an accept",
    )


@pytest.mark.django_db
def test_it_sets_the_extra_fields_in_the_same_update(grant):
    transition(grant, "held")
    when = grant.created_at
    transition(grant, "used", used_at=when)
    assert PlatformHoldGrant.objects.get(pk=grant.pk).used_at == when
    assert list(grant.history.values_list("to_status", flat=True)) == ["held", "used"]


@pytest.mark.django_db
def test_an_illegal_move_is_refused_and_changes_nothing(grant):
    with pytest.raises(InvalidTransition) as refused:
        transition(grant, "used")
    assert not refused.value.conflict
    assert (refused.value.from_status, refused.value.to_status) == ("open", "used")
    assert PlatformHoldGrant.objects.get(pk=grant.pk).status == "open"
    assert not grant.history.exists()


@pytest.mark.django_db
def test_the_loser_of_a_race_gets_a_conflict(grant):
    stale = PlatformHoldGrant.objects.get(pk=grant.pk)
    transition(grant, "held")
    with pytest.raises(InvalidTransition) as lost:
        transition(stale, "held")  # read as open, which allows held; the row is held now
    assert lost.value.conflict
    assert stale.status == "open"  # the loser's copy is not pretended to have moved
    assert grant.history.count() == 1


@pytest.mark.django_db
def test_transition_many_moves_only_rows_the_table_allows(organization):
    grants = [
        PlatformHoldGrant.objects.create(
            source_ref=f"test:{n}", scope="many", organization=organization, reason="test"
        )
        for n in range(3)
    ]
    transition(grants[0], "held")
    transition(grants[0], "used")  # used: cannot become held again
    moved = transition_many(PlatformHoldGrant.objects.filter(scope="many"), "held", reason="bulk")
    assert sorted(moved) == sorted([grants[1].pk, grants[2].pk])
    statuses = dict(PlatformHoldGrant.objects.values_list("pk", "status"))
    assert statuses == {grants[0].pk: "used", grants[1].pk: "held", grants[2].pk: "held"}
    for grant in grants[1:]:
        assert list(grant.history.values_list("from_status", "to_status", "reason")) == [
            ("open", "held", "bulk")
        ]


@pytest.mark.django_db
def test_transition_many_refuses_a_state_nothing_leads_to(grant):
    with pytest.raises(InvalidTransition):
        transition_many(PlatformHoldGrant.objects.all(), "nowhere")


@pytest.mark.django_db
def test_record_initial_writes_the_first_state(grant, operator):
    record_initial(grant, actor=operator)
    assert list(grant.history.values_list("from_status", "to_status", "reason")) == [
        ("", "open", "created")
    ]
