"""The result of a review request: one review as it is, several as a consensus. Pure functions
over plain dicts (table-tested in tests/review_requests/test_results.py).

A review dict: {"assignment_id", "verdict", "corrected_output", "summary", "scores",
"annotations", "submitted_at"} (submitted_at only orders them).

Agreement (`agreement`, `agreement_detail`) is computed by review_requests.agreement, the one
place it is: `agreement` is the share of reviewer pairs whose verdicts match (Krippendorff's
observed agreement; null with a single reviewer), `agreement_detail` Krippendorff's alpha per
verdict and per score key (see that module for what one request's alpha can say).

Adjudication (docs/contract/independent-reviews.md): `adjudicated_result` lays an adjudicator's
decision over the consensus of the independent reviews.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from review_requests.agreement import request_agreement

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


def consensus(
    reviews: list[dict[str, Any]], rubric: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The request's `result`. With one review the top-level fields are that review; with several
    the majority verdict, mean scores, the first submitted correction among the reviews that
    corrected (when the verdict is `corrected`), the first majority review's summary, and every
    reviewer's annotations (each tagged with its assignment_id)."""
    if not reviews:
        raise ValueError("consensus needs at least one review")
    ordered = sorted(reviews, key=lambda r: (str(r.get("submitted_at") or ""),))
    each = [review_result(r) for r in ordered]
    agreement, detail = request_agreement(each, rubric)
    if len(each) == 1:
        only = each[0]
        result = {field: only[field] for field in RESULT_FIELDS}
        result["reviews"] = each
        result["agreement"] = None
        result["agreement_detail"] = detail
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
        "agreement": agreement,
        "agreement_detail": detail,
    }


def verdicts_differ(result: dict[str, Any]) -> bool:
    return len({r["verdict"] for r in result.get("reviews") or []}) > 1


def adjudication_needed(
    result: dict[str, Any], *, four_eyes: bool, threshold: float | None
) -> bool:
    """Whether the independent reviews' result goes to an adjudicator: with four-eyes, whenever
    the verdicts differ; with the organization's threshold set, when the verdicts differ or
    `agreement` is below it. Never with one review, nor with neither option."""
    if len(result.get("reviews") or []) < 2:
        return False
    if four_eyes and verdicts_differ(result):
        return True
    if threshold is None:
        return False
    agreement = result.get("agreement")
    return verdicts_differ(result) or (agreement is not None and agreement < threshold)


def adjudicated_result(
    independent: dict[str, Any], adjudication: dict[str, Any] | None, *, four_eyes: bool
) -> dict[str, Any]:
    """The final result: the independent reviews' consensus, with the adjudicator's verdict,
    corrected output, summary (and scores, when they gave any) on top when there was an
    adjudication; `adjudication` names it ({"assignment_id", "verdict", "summary"} or null) and,
    for four-eyes requests, `four_eyes` says whether the reviewers agreed."""
    result = dict(independent)
    result["adjudication"] = None
    if adjudication is not None:
        decided = review_result(adjudication)
        result["verdict"] = decided["verdict"]
        result["corrected_output"] = decided["corrected_output"]
        result["summary"] = decided["summary"]
        if decided["scores"]:
            result["scores"] = decided["scores"]
        result["annotations"] = sorted(
            [
                *(result.get("annotations") or []),
                *({**a, "assignment_id": decided["assignment_id"]} for a in decided["annotations"]),
            ],
            key=lambda a: (a.get("start", 0), a.get("end", 0)),
        )
        result["adjudication"] = {
            "assignment_id": decided["assignment_id"],
            "verdict": decided["verdict"],
            "summary": decided["summary"],
        }
    if four_eyes:
        result["four_eyes"] = {
            "agreed": not verdicts_differ(independent),
            "adjudicated": adjudication is not None,
        }
    return result
