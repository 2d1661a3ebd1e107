"""The result of a review request: one review as it is, several as a consensus. Pure functions
over plain dicts (table-tested in tests/review_requests/test_results.py).

A review dict: {"assignment_id", "verdict", "corrected_output", "summary", "scores",
"annotations", "submitted_at"} (submitted_at only orders them).

Agreement: Fleiss' kappa corrects for chance, but with two to five reviewers and three verdicts
its chance term is estimated from a handful of ratings and swings wildly (two reviewers who both
approve get kappa undefined or negative). We report the plain mean pairwise agreement instead:
the share of reviewer pairs whose verdicts match (1.0 all agree, 0.0 nobody agrees), and null
with a single reviewer, where agreement means nothing.
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations
from typing import Any

# Ties go to the stricter verdict: a company would rather look again than ship an error.
STRICTNESS = {"approved": 0, "corrected": 1, "rejected": 2}
RESULT_FIELDS = ("verdict", "corrected_output", "summary", "scores", "annotations")


def review_result(review: dict[str, Any]) -> dict[str, Any]:
    """One review in the contract's shape, with its assignment_id."""
    return {
        "assignment_id": str(review["assignment_id"]),
        "verdict": review["verdict"],
        "corrected_output": review.get("corrected_output")
        if review["verdict"] == "corrected"
        else None,
        "summary": review.get("summary") or "",
        "scores": dict(review.get("scores") or {}),
        "annotations": [dict(a) for a in review.get("annotations") or []],
    }


def majority_verdict(verdicts: list[str]) -> str:
    counts = Counter(verdicts)
    return max(counts, key=lambda verdict: (counts[verdict], STRICTNESS[verdict]))


def mean_scores(score_dicts: list[dict[str, Any]]) -> dict[str, float]:
    """Mean per rubric key over the reviews that scored it, rounded to two decimals."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for scores in score_dicts:
        for key, value in (scores or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                sums[key] = sums.get(key, 0) + value
                counts[key] = counts.get(key, 0) + 1
    return {key: round(sums[key] / counts[key], 2) for key in sorted(sums)}


def pairwise_agreement(verdicts: list[str]) -> float | None:
    pairs = list(combinations(verdicts, 2))
    if not pairs:
        return None
    return round(sum(1 for a, b in pairs if a == b) / len(pairs), 4)


def consensus(reviews: list[dict[str, Any]]) -> dict[str, Any]:
    """The request's `result`. With one review the top-level fields are that review; with several
    the majority verdict, mean scores, the first submitted correction among the reviews that
    corrected (when the verdict is `corrected`), the first majority review's summary, and every
    reviewer's annotations (each tagged with its assignment_id)."""
    if not reviews:
        raise ValueError("consensus needs at least one review")
    ordered = sorted(reviews, key=lambda r: (str(r.get("submitted_at") or ""),))
    each = [review_result(r) for r in ordered]
    if len(each) == 1:
        only = each[0]
        result = {field: only[field] for field in RESULT_FIELDS}
        result["reviews"] = each
        result["agreement"] = None
        return result

    verdict = majority_verdict([r["verdict"] for r in each])
    majority = [r for r in each if r["verdict"] == verdict]
    corrected_output = None
    if verdict == "corrected":
        corrected_output = next(
            (r["corrected_output"] for r in majority if r["corrected_output"]), None
        )
    annotations = [
        {**annotation, "assignment_id": r["assignment_id"]}
        for r in each
        for annotation in r["annotations"]
    ]
    annotations.sort(key=lambda a: (a.get("start", 0), a.get("end", 0)))
    return {
        "verdict": verdict,
        "corrected_output": corrected_output,
        "summary": majority[0]["summary"],
        "scores": mean_scores([r["scores"] for r in each]),
        "annotations": annotations,
        "reviews": each,
        "agreement": pairwise_agreement([r["verdict"] for r in each]),
    }
