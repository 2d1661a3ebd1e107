"""The one way to change the status of a stateful model.

A stateful model declares `TRANSITIONS = {from_status: {to_status, ...}}` and has one concrete
`StatusHistory` subclass whose foreign key to it has `related_name="history"`. `transition` moves
one row, `transition_many` a queryset; both refuse a move the table does not allow, change the row
only if its status is still the one read (a conditional update whose row count is checked: a
concurrent change makes the loser fail instead of overwriting), and leave one history row per
change in the same transaction. Nothing else writes a status field (tests/test_transitions.py)."""

from __future__ import annotations

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models, transaction


class InvalidTransition(ValidationError):
    """The table does not allow the move, or the row moved on meanwhile (`conflict`)."""

    def __init__(self, message: str, *, from_status: str = "", to_status: str = "", conflict=False):
        super().__init__(message, code="conflict" if conflict else "invalid_transition")
        self.from_status = from_status
        self.to_status = to_status
        self.conflict = conflict


def _label(model: type[models.Model]) -> str:
    return model.__name__


def history_model(model: type[models.Model]) -> tuple[type[models.Model], str]:
    """The concrete StatusHistory model of `model` and the name of its foreign key to it."""
    field = model.history.field  # the reverse descriptor of related_name="history"
    return field.model, field.name


def history_subject(history: type[models.Model]) -> str:
    """The name of a StatusHistory model's foreign key to the row whose history it holds."""
    for model in apps.get_models():
        if hasattr(model, "TRANSITIONS") and model.history.field.model is history:
            return model.history.field.name
    raise LookupError(f"{history.__name__} is the history of no model with TRANSITIONS")


def check_transition(model: type[models.Model], from_status: str, to: str) -> None:
    if to not in model.TRANSITIONS.get(from_status, ()):
        raise InvalidTransition(
            f"A {_label(model)} that is {from_status or 'new'} cannot become {to}.",
            from_status=from_status,
            to_status=to,
        )


def transition(obj: models.Model, to: str, *, actor=None, reason: str = "", **fields) -> str:
    """Move `obj` from the status it holds to `to`, setting `fields` in the same update; return
    the status it came from. Raises InvalidTransition if the table refuses the move or another
    writer changed the row's status since `obj` was read."""
    model = type(obj)
    current = obj.status
    check_transition(model, current, to)
    history, key = history_model(model)
    with transaction.atomic():
        changed = model.objects.filter(pk=obj.pk, status=current).update(status=to, **fields)
        if changed != 1:
            raise InvalidTransition(
                f"This {_label(model)} is no longer {current}: it was changed meanwhile.",
                from_status=current,
                to_status=to,
                conflict=True,
            )
        history.objects.create(
            **{key: obj}, from_status=current, to_status=to, actor=actor, reason=reason[:500]
        )
    obj.status = to
    for name, value in fields.items():
        setattr(obj, name, value)
    return current


def transition_many(
    queryset: models.QuerySet, to: str, *, actor=None, reason: str = "", **fields
) -> list:
    """Move every row of `queryset` whose status allows `to` (the others are left alone) and
    return their primary keys. The rows are locked first, so the update's row count must match
    what was read; one history row each, by bulk_create."""
    model = queryset.model
    sources = [status for status, targets in model.TRANSITIONS.items() if to in targets]
    if not sources:
        raise InvalidTransition(f"No {_label(model)} can become {to}.", to_status=to)
    history, key = history_model(model)
    with transaction.atomic():
        rows = list(
            model.objects.select_for_update()
            .filter(pk__in=queryset.values("pk"), status__in=sources)
            .order_by("pk")
            .values_list("pk", "status")
        )
        if not rows:
            return []
        pks = [pk for pk, _ in rows]
        changed = model.objects.filter(pk__in=pks, status__in=sources).update(status=to, **fields)
        if changed != len(rows):
            raise InvalidTransition(
                f"Some of these {_label(model)} rows were changed meanwhile.",
                to_status=to,
                conflict=True,
            )
        history.objects.bulk_create(
            history(
                **{f"{key}_id": pk},
                from_status=status,
                to_status=to,
                actor=actor,
                reason=reason[:500],
            )
            for pk, status in rows
        )
    return pks


def record_initial(obj: models.Model, *, actor=None, reason: str = "created") -> None:
    """The history row of a row's first state (from_status empty), written where it is created."""
    history, key = history_model(type(obj))
    history.objects.create(
        **{key: obj}, from_status="", to_status=obj.status, actor=actor, reason=reason[:500]
    )
