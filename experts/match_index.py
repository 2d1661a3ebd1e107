"""Keeps experts.models.MatchRow (the table ranking reads) in step with the normalized tables.

`match_rows_refresh(expert_ids=...)` rebuilds the rows of some experts from their profile,
specializations, availability and credentials, in a constant number of queries per batch.
Services call it inside their transaction. Model signals (experts.receivers) call it too, so a
writer that bypasses the services (the admin, seed data, a test building rows by hand) cannot
leave the cache stale; services switch that off with `refresh_deferred()` while they work and
refresh once at the end.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Collection, Iterator
from contextvars import ContextVar
from datetime import date

from experts.models import (
    AvailabilityWindow,
    Credential,
    ExpertProfile,
    ExpertSpecialization,
    MatchRow,
    Specialization,
)

HOURS_PER_WEEK = 168
BITS_PER_WORD = 56  # below 63, so shifts never touch the sign bit of a signed BIGINT
NEVER_EXPIRES = date(9999, 12, 31)

_deferred: ContextVar[bool] = ContextVar("match_rows_deferred", default=False)


@contextlib.contextmanager
def refresh_deferred() -> Iterator[None]:
    token = _deferred.set(True)
    try:
        yield
    finally:
        _deferred.reset(token)


def refresh_is_deferred() -> bool:
    return _deferred.get()


def hour_words(hours: Collection[int]) -> tuple[int, int, int]:
    words = [0, 0, 0]
    for hour in hours:
        hour %= HOURS_PER_WEEK
        words[hour // BITS_PER_WORD] |= 1 << (hour % BITS_PER_WORD)
    return words[0], words[1], words[2]


def availability_masks(windows: Collection[tuple[int, int, int]]) -> tuple[int, ...]:
    """(full0, full1, full2, any0, any1, any2) for weekly windows (weekday, start, end)."""
    covered: dict[int, int] = defaultdict(int)  # hour of the week -> minutes covered
    minutes: set[int] = set()
    for weekday, start, end in windows:
        base = weekday * 1440
        minutes.update(range(base + start, base + end))
    for minute in minutes:
        covered[minute // 60] += 1
    full = [hour for hour, count in covered.items() if count == 60]
    return (*hour_words(full), *hour_words(covered.keys()))


def _ancestors(slug: str) -> list[str]:
    parts = slug.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def match_rows_refresh(*, expert_ids: Collection) -> None:
    """Rebuild the match rows of these experts (in batches; five queries per batch)."""
    ids = list(dict.fromkeys(expert_ids))
    if not ids:
        return
    by_slug = {s.slug: s for s in Specialization.objects.all()}
    for offset in range(0, len(ids), 2000):
        _refresh_batch(ids[offset : offset + 2000], by_slug)


def _refresh_batch(ids: list, by_slug: dict[str, Specialization]) -> None:
    MatchRow.objects.filter(expert_id__in=ids).delete()
    profiles = list(
        ExpertProfile.objects.filter(
            pk__in=ids,
            accepting_work=True,
            hourly_rate_cents__isnull=False,
            user__is_active=True,
        )
    )
    if not profiles:
        return
    live = [p.pk for p in profiles]
    specs: dict = defaultdict(list)
    for es in ExpertSpecialization.objects.filter(expert_id__in=live).select_related(
        "specialization"
    ):
        specs[es.expert_id].append(es)
    windows: dict = defaultdict(list)
    for w in AvailabilityWindow.objects.filter(expert_id__in=live).values_list(
        "expert_id", "weekday", "start_minute", "end_minute"
    ):
        windows[w[0]].append(w[1:])
    proof: dict = {}
    for expert_id, field_id, expires_on in Credential.objects.filter(
        expert_id__in=live, status=Credential.Status.VERIFIED
    ).values_list("expert_id", "field_id", "expires_on"):
        until = expires_on or NEVER_EXPIRES
        key = (expert_id, field_id)
        proof[key] = max(proof.get(key, until), until)

    by_id = {s.pk: s for s in by_slug.values()}
    rows = []
    for profile in profiles:
        masks = availability_masks(windows[profile.pk])
        nodes = _match_nodes(specs[profile.pk], by_slug)
        for node_id, (exact, years, best_spec_id, _) in nodes.items():
            top = by_slug[by_id[node_id].slug.split(".", 1)[0]]
            rows.append(
                MatchRow(
                    node_id=node_id,
                    expert_id=profile.pk,
                    user_id=profile.user_id,
                    exact=exact,
                    years=years,
                    best_spec_id=best_spec_id,
                    rate_cents=profile.hourly_rate_cents,
                    timezone=profile.timezone,
                    always_available=profile.always_available,
                    max_concurrent=profile.max_concurrent,
                    current_load=profile.current_load,
                    rating_avg=profile.rating_avg,
                    rating_count=profile.rating_count,
                    completion_rate=profile.completion_rate,
                    on_time_rate=profile.on_time_rate,
                    credential_until=proof.get((profile.pk, top.pk)),
                    full0=masks[0],
                    full1=masks[1],
                    full2=masks[2],
                    any0=masks[3],
                    any1=masks[4],
                    any2=masks[5],
                )
            )
    MatchRow.objects.bulk_create(rows, batch_size=1000)


def _match_nodes(
    held_specs: list[ExpertSpecialization], by_slug: dict[str, Specialization]
) -> dict[int, list]:
    """node id -> [exact, years, best held spec, best rank] for every node an expert's held
    specializations and their ancestors reach."""
    nodes: dict[int, list] = {}
    for es in held_specs:
        held = es.specialization
        for slug, exact in [(held.slug, True)] + [(a, False) for a in _ancestors(held.slug)]:
            node = by_slug.get(slug)
            if node is None:
                continue
            rank = (exact, es.years, -held.pk)
            entry = nodes.get(node.pk)
            if entry is None:
                nodes[node.pk] = [exact, es.years, held.pk, rank]
            else:
                entry[0] = entry[0] or exact
                entry[1] = max(entry[1], es.years)
                if rank > entry[3]:
                    entry[2], entry[3] = held.pk, rank
    return nodes


def match_rows_rebuild_all() -> int:
    """Rebuild every expert's rows (after a bulk load or a restore). Returns experts seen."""
    ids = list(ExpertProfile.objects.values_list("pk", flat=True))
    MatchRow.objects.all().delete()
    match_rows_refresh(expert_ids=ids)
    return len(ids)
