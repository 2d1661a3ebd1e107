"""Agreement between reviewers: the one place it is computed. Pure functions over plain values
(table-tested in tests/review_requests/test_agreement.py).

Krippendorff's alpha, from the `krippendorff` package: alpha = 1 - D_o / D_e, the observed
disagreement between the values reviewers gave the same unit over the disagreement expected by
chance from all the values given. Levels: nominal for verdicts, ordinal for scores (1..scale)
and for preferences (a pairwise strength on -2..2 signed towards the company's first candidate;
in rank mode each candidate's rank position 1..n). Reliability data is a matrix of reviewers
(rows) by units (columns), None where a reviewer gave no value.

What the numbers mean:
- alpha is None when fewer than two values are pairable (no unit has two reviewers); 1.0 when
  every pairable value is identical (the package's 0/0 case: perfect agreement); otherwise the
  package's value, rounded to 4 decimals (1 perfect, 0 no better than chance, below 0 worse).
- Per request a verdict, a score key or a pairwise criterion is ONE unit. With one unit the
  chance term comes from the very values compared, so alpha is 1.0 when all reviewers gave the
  same value and at most 0 otherwise: it flags disagreement, it does not measure it. The
  chance-corrected figures that measure something are those over many units: over many
  requests (alpha_over_units: per specialization, per organization or policy) and per expert
  against their co-reviewers (expert_pair_alpha), and a rank-mode criterion, whose units are the
  candidates.
- `result.agreement` (0-1, the API's field) is unchanged in meaning: Krippendorff's observed
  agreement A_o = 1 - D_o (nominal) on the verdicts, which for one request is exactly the share of
  reviewer pairs whose verdicts match (1.0 all agree, 0.0 no two agree); None with one reviewer.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence
from itertools import combinations
from typing import Any

import krippendorff
import numpy as np

NOMINAL = "nominal"
ORDINAL = "ordinal"
INTERVAL = "interval"
LEVELS = (NOMINAL, ORDINAL, INTERVAL)
VERDICT_CODES = {"approved": 0, "corrected": 1, "rejected": 2}
DEFAULT_SCALE = 5
PREFERENCE_DOMAIN = (-2, -1, 0, 1, 2)

Value = float | int | None


def _pairable(matrix: Sequence[Sequence[Value]]) -> list[list[float]]:
    """The values of each unit that has at least two of them (the only pairable ones)."""
    units = len(matrix[0]) if matrix else 0
    columns = []
    for u in range(units):
        column = [float(row[u]) for row in matrix if row[u] is not None]
        if len(column) >= 2:
            columns.append(column)
    return columns


def alpha(
    matrix: Sequence[Sequence[Value]], *, level: str, value_domain: Sequence[Value] | None = None
) -> float | None:
    """Krippendorff's alpha of `matrix` (reviewers x units, None for missing) at `level`.
    None without two pairable values; 1.0 when every pairable value is the same."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}")
    if not matrix or any(len(row) != len(matrix[0]) for row in matrix):
        return None if not matrix else _ragged()
    columns = _pairable(matrix)
    if not columns:
        return None
    values = {v for column in columns for v in column}
    if len(values) == 1:
        return 1.0
    data = np.array(
        [[np.nan if v is None else float(v) for v in row] for row in matrix], dtype=float
    )
    domain = None
    if value_domain is not None:
        domain = sorted({float(v) for v in value_domain if v is not None} | values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = krippendorff.alpha(
            reliability_data=data, level_of_measurement=level, value_domain=domain
        )
    if result is None or math.isnan(result):
        return None
    return round(float(result), 4)


def _ragged():
    raise ValueError("every row of the reliability data needs one value per unit")


def observed_agreement(values: Iterable[Hashable]) -> float | None:
    """A_o = 1 - D_o (nominal) of one unit: the share of pairs of values that match. None with
    fewer than two values."""
    given = [v for v in values if v is not None]
    pairs = list(combinations(given, 2))
    if not pairs:
        return None
    return round(sum(1 for a, b in pairs if a == b) / len(pairs), 4)


def criterion_alpha(
    *, values: Sequence[Sequence[Value]], value_domain: Sequence[Value] | None = None
) -> float | None:
    """Ordinal alpha of one comparison criterion: `values[reviewer][unit]` (None for missing).
    Pairwise: one unit, the strength on -2..2 signed towards the company's first candidate
    (pass value_domain=PREFERENCE_DOMAIN). Rank: one unit per candidate (in the company's
    order), the value its rank position 1..n (value_domain=range(1, n + 1))."""
    return alpha(values, level=ORDINAL, value_domain=value_domain)


def verdict_code(verdict: Any) -> int | None:
    return VERDICT_CODES.get(verdict) if isinstance(verdict, str) else None


def _scales(rubric: Sequence[Mapping[str, Any]] | None) -> dict[str, int]:
    return {
        str(item.get("key")): int(item.get("scale") or DEFAULT_SCALE)
        for item in rubric or []
        if isinstance(item, Mapping) and item.get("key")
    }


def _score(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def request_agreement(
    reviews: Sequence[Mapping[str, Any]], rubric: Sequence[Mapping[str, Any]] | None = None
) -> tuple[float | None, dict[str, Any]]:
    """(result.agreement, result.agreement_detail) of one request's reviews (dicts with
    `verdict` and `scores`). The detail: {"verdict": alpha, "scores": {key: alpha}, "criteria":
    {}} (criteria are filled by the comparison consensus through criterion_alpha)."""
    verdicts = [r.get("verdict") for r in reviews]
    agreement = observed_agreement(verdicts) if len(reviews) > 1 else None
    detail: dict[str, Any] = {"verdict": None, "scores": {}, "criteria": {}}
    if len(reviews) < 2:
        return agreement, detail
    detail["verdict"] = alpha([[verdict_code(v)] for v in verdicts], level=NOMINAL)
    scales = _scales(rubric)
    keys = list(scales) + sorted(
        {k for r in reviews for k in (r.get("scores") or {})} - set(scales)
    )
    for key in keys:
        matrix = [[_score((r.get("scores") or {}).get(key))] for r in reviews]
        scale = scales.get(key, DEFAULT_SCALE)
        detail["scores"][key] = alpha(matrix, level=ORDINAL, value_domain=range(1, scale + 1))
    return agreement, detail


def alpha_over_units(
    units: Iterable[Mapping[Hashable, Value]],
    *,
    level: str,
    value_domain: Sequence[Value] | None = None,
) -> float | None:
    """Alpha over many units (e.g. requests), each a {reviewer id: value} mapping: the matrix of
    every reviewer seen by every unit, None where a reviewer did not rate a unit."""
    units = [dict(u) for u in units]
    coders = sorted({c for u in units for c in u}, key=str)
    index = {c: i for i, c in enumerate(coders)}
    matrix: list[list[Value]] = [[None] * len(units) for _ in coders]
    for col, unit in enumerate(units):
        for coder, value in unit.items():
            matrix[index[coder]][col] = value
    return alpha(matrix, level=level, value_domain=value_domain)


def expert_pair_alpha(
    pairs: Iterable[tuple[Value, Value]],
    *,
    level: str,
    value_domain: Sequence[Value] | None = None,
) -> float | None:
    """One expert against their co-reviewers: each (their value, a co-reviewer's value) on the
    same request is a unit of two reviewers (row 0 the expert, row 1 the co-reviewer), so only
    pairs that include the expert count."""
    pairs = list(pairs)
    if not pairs:
        return None
    return alpha(
        [[a for a, _ in pairs], [b for _, b in pairs]], level=level, value_domain=value_domain
    )


# Krippendorff's (2004) rule of thumb for reliability over many units: rely on data with alpha at
# or above .800, draw tentative conclusions only from .667 up.
RELIABLE = 0.8
TENTATIVE = 0.667


def alpha_reading(value: float | None) -> str:
    """What an alpha over many units says, in words for the pages."""
    if value is None:
        return "not enough reviews to compare"
    if value >= RELIABLE:
        return "reliable agreement"
    if value >= TENTATIVE:
        return "tentative agreement"
    if value > 0:
        return "weak agreement"
    return "no better than chance"
