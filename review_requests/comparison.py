"""Comparison requests (content type `comparison`): which of 2-4 candidate outputs is better, per
criterion. Pure functions over plain dicts, table-tested in tests/review_requests/test_comparison.py:
the order a reviewer sees, the checks of a draft, and the consensus of several reviews.

A pairwise choice on one criterion: {"winner": "<candidate id>" | null, "strength": 0 | 1 | 2,
"rationale": "..."} (null winner with strength 0 is a tie; 1 better, 2 much better). A rank choice:
{"ranking": ["b", "a", "c"], "rationale": "..."}, best first, every candidate once. A draft may hold
a criterion that is not chosen yet (strength or ranking missing); submitting needs all chosen.

Consensus. Pairwise: the winners' strengths add up per candidate (a tie adds nothing), `scores` are
each candidate's share (0.5 each when nobody preferred either) and equal scores are a tie. Rank:
Bradley-Terry strengths fitted to every pair each ranking implies (the winner of a pair is the one
ranked higher), by the minorization-maximization iteration of Hunter (2004); `scores` sum to 1.
A candidate that wins every pair has no finite maximum-likelihood strength, so each pair of
candidates also gets a small symmetric pseudo-count (PRIOR_WINS each way): the scores stay finite
and the order is the one the wins say. (choix does the same fit but brings numpy and scipy along:
not worth two large dependencies for a dozen lines.)
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from itertools import combinations
from typing import Any

from review_requests.agreement import PREFERENCE_DOMAIN, criterion_alpha

COMPARED = "compared"  # the verdict of a comparison request's result
MODES = ("pairwise", "rank")
OVERALL = "overall"
STRENGTHS = (0, 1, 2)
PRIOR_WINS = 0.1
BT_ITERATIONS = 500
BT_TOLERANCE = 1e-10
SCORE_DIGITS = 4


class ComparisonRefused(ValueError):
    """A draft or a choice that does not fit its request: `field` is where (a dotted path)."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.message = message
        self.field = field


def is_comparison(content: dict[str, Any] | None) -> bool:
    return bool(content) and content.get("type") == "comparison"


def candidate_ids(content: dict[str, Any]) -> list[str]:
    """The candidates' ids in the company's order."""
    return [str(c["id"]) for c in content.get("candidates") or []]


def criteria_of(rubric: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    """The criteria of a comparison: the rubric's keys and labels, else one `overall`."""
    items = [
        {"key": str(item["key"]), "label": str(item.get("label") or item["key"])}
        for item in rubric or []
        if isinstance(item, dict) and item.get("key")
    ]
    return items or [{"key": OVERALL, "label": "Overall"}]


def order_shown(ids: list[str], *, seed: str) -> list[str]:
    """The candidates in the order one reviewer sees them: shuffled, the same every time for the
    same seed (the assignment id), so a reload or a second tab shows the same order."""
    digest = hashlib.sha256(f"inloop.comparison:{seed}".encode()).digest()
    shuffled = list(ids)
    random.Random(int.from_bytes(digest[:8], "big")).shuffle(shuffled)
    return shuffled


def candidates_shown(
    content: dict[str, Any], *, seed: str, hide_models: bool
) -> list[dict[str, Any]]:
    """The candidates in order_shown, each with its `label` (A, B, ...) as the reviewer sees it;
    without `model` when hidden."""
    by_id = {str(c["id"]): c for c in content.get("candidates") or []}
    shown = []
    for index, cid in enumerate(order_shown(list(by_id), seed=seed)):
        candidate = dict(by_id[cid])
        if hide_models:
            candidate.pop("model", None)
        candidate["label"] = chr(ord("A") + index)
        shown.append(candidate)
    return shown


def models_hidden(content: dict[str, Any]) -> bool:
    return content.get("blind_models", True) is not False


# Drafts -------------------------------------------------------------------------------------


def _choice_check(mode: str, key: str, choice: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    """One criterion's choice, checked against the request; returned in its stored shape."""
    where = f"comparison.criteria.{key}"
    rationale = choice.get("rationale") or ""
    if mode == "pairwise":
        if choice.get("ranking") is not None:
            raise ComparisonRefused("A pairwise comparison takes winner and strength.", where)
        winner, strength = choice.get("winner"), choice.get("strength")
        if winner is not None and winner not in ids:
            raise ComparisonRefused(
                f"winner must be one of {', '.join(ids)}, or null.", f"{where}.winner"
            )
        if strength == 0 and winner is not None:
            raise ComparisonRefused("A tie (strength 0) has no winner.", f"{where}.winner")
        if strength in (1, 2) and winner is None:
            raise ComparisonRefused("Strength 1 or 2 needs a winner.", f"{where}.winner")
        return {"winner": winner, "strength": strength, "rationale": rationale}
    if choice.get("winner") is not None or choice.get("strength") is not None:
        raise ComparisonRefused("A rank comparison takes a ranking.", where)
    ranking = choice.get("ranking")
    if ranking is not None and sorted(ranking) != sorted(ids):
        raise ComparisonRefused(
            f"ranking must list every candidate once: {', '.join(ids)}.", f"{where}.ranking"
        )
    return {"ranking": list(ranking) if ranking is not None else None, "rationale": rationale}


def draft_check(
    comparison: dict[str, Any], *, content: dict[str, Any], rubric: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """A comparison draft ({"criteria": {key: choice}, "rewrite"}) that fits the request, in its
    stored shape; raises ComparisonRefused. Criteria may be left out or not chosen yet."""
    mode = content.get("mode")
    ids = candidate_ids(content)
    keys = [c["key"] for c in criteria_of(rubric)]
    criteria: dict[str, Any] = {}
    for key, choice in (comparison.get("criteria") or {}).items():
        if key not in keys:
            known = isinstance(key, str) and key.isascii() and key.isprintable()
            raise ComparisonRefused(
                f"{key!r} is not a criterion of this comparison; they are {', '.join(keys)}."
                if known
                else "A criterion is not one of this comparison's.",
                f"comparison.criteria.{key}" if known else "comparison.criteria",
            )
        criteria[key] = _choice_check(mode, key, choice, ids)
    rewrite = comparison.get("rewrite")
    return {"criteria": criteria, "rewrite": rewrite if rewrite else None}


def choice_filled(mode: str, choice: dict[str, Any] | None) -> bool:
    if not choice:
        return False
    if mode == "pairwise":
        return choice.get("strength") in STRENGTHS
    return bool(choice.get("ranking"))


def draft_unfilled(
    comparison: dict[str, Any] | None, *, content: dict[str, Any], rubric
) -> str | None:
    """The first criterion not chosen yet (its key), or None when the draft can be submitted."""
    criteria = (comparison or {}).get("criteria") or {}
    for criterion in criteria_of(rubric):
        if not choice_filled(content.get("mode", ""), criteria.get(criterion["key"])):
            return criterion["key"]
    return None


# Consensus ----------------------------------------------------------------------------------


def _ranking_of(scores: dict[str, float], ids: list[str]) -> list[str]:
    """Best first; equal scores keep the company's order."""
    return sorted(ids, key=lambda cid: (-scores[cid], ids.index(cid)))


def _rounded(scores: dict[str, float]) -> dict[str, float]:
    return {cid: round(value, SCORE_DIGITS) for cid, value in scores.items()}


def _outcome(scores: dict[str, float], ids: list[str]) -> dict[str, Any]:
    # Ranked on the rounded scores: two candidates the data cannot tell apart may differ in
    # the last bits of an iterative fit, and must still tie (in the company's order).
    shown = _rounded(scores)
    ranking = _ranking_of(shown, ids)
    tie = len(ranking) > 1 and shown[ranking[0]] == shown[ranking[1]]
    return {"ranking": ranking, "scores": shown, "tie": tie}


def pairwise_consensus(choices: Iterable[dict[str, Any]], ids: list[str]) -> dict[str, Any]:
    """Majority of winners, each weighted by its strength; a tie when the weights are equal."""
    weights = dict.fromkeys(ids, 0.0)
    for choice in choices:
        if choice.get("winner") in weights and choice.get("strength") in (1, 2):
            weights[choice["winner"]] += choice["strength"]
    total = sum(weights.values())
    scores = {cid: (w / total if total else 1 / len(ids)) for cid, w in weights.items()}
    return _outcome(scores, ids)


def ranking_pairs(ranking: list[str]) -> list[tuple[str, str]]:
    """Every (winner, loser) pair a ranking implies."""
    return list(combinations(ranking, 2))


def bradley_terry(pairs: Iterable[tuple[str, str]], ids: list[str]) -> dict[str, float]:
    """Bradley-Terry strengths (summing to 1) fitted to (winner, loser) pairs by Hunter's MM
    iteration, with PRIOR_WINS pseudo-wins each way between every two candidates."""
    wins = {a: dict.fromkeys(ids, 0.0) for a in ids}
    for a, b in combinations(ids, 2):
        wins[a][b] += PRIOR_WINS
        wins[b][a] += PRIOR_WINS
    for winner, loser in pairs:
        if winner in wins and loser in wins and winner != loser:
            wins[winner][loser] += 1
    strength = dict.fromkeys(ids, 1 / len(ids))
    for _ in range(BT_ITERATIONS):
        updated = {}
        for i in ids:
            won = sum(wins[i].values())
            games = sum(
                (wins[i][j] + wins[j][i]) / (strength[i] + strength[j]) for j in ids if j != i
            )
            updated[i] = won / games if games else strength[i]
        total = sum(updated.values())
        updated = {i: value / total for i, value in updated.items()}
        change = max(abs(updated[i] - strength[i]) for i in ids)
        strength = updated
        if change < BT_TOLERANCE:
            break
    return strength


def rank_consensus(rankings: Iterable[list[str]], ids: list[str]) -> dict[str, Any]:
    pairs = [pair for ranking in rankings for pair in ranking_pairs(ranking)]
    return _outcome(bradley_terry(pairs, ids) if len(ids) > 1 else {ids[0]: 1.0}, ids)


def criterion_consensus(mode: str, choices: list[dict[str, Any]], ids: list[str]) -> dict[str, Any]:
    if mode == "pairwise":
        return pairwise_consensus(choices, ids)
    return rank_consensus([c["ranking"] for c in choices if c.get("ranking")], ids)


def criterion_agreement(mode: str, choices: list[dict[str, Any]], ids: list[str]) -> float | None:
    """Krippendorff's ordinal alpha of one criterion over its reviewers (None with fewer than two):
    pairwise, the strength signed towards the company's first candidate (-2..2); rank, each
    candidate's position in each reviewer's ranking."""
    if len(choices) < 2:
        return None
    if mode == "pairwise":
        values = [[_signed_strength(choice, ids)] for choice in choices]
        return criterion_alpha(values=values, value_domain=PREFERENCE_DOMAIN)
    rankings = [choice.get("ranking") or [] for choice in choices]
    values = [[r.index(cid) + 1 if cid in r else None for cid in ids] for r in rankings]
    return criterion_alpha(values=values, value_domain=range(1, len(ids) + 1))


def _signed_strength(choice: dict[str, Any], ids: list[str]) -> int:
    strength = int(choice.get("strength") or 0)
    winner = choice.get("winner")
    if winner is None or strength == 0:
        return 0
    return strength if winner == ids[0] else -strength


def comparison_result(
    *, content: dict[str, Any], rubric: list[dict[str, Any]] | None, reviews: list[dict[str, Any]]
) -> dict[str, Any]:
    """`result.comparison` of a request: per criterion and overall (the `overall` criterion, or
    every criterion's choices pooled when there is none), each review as submitted. A review:
    {"assignment_id", "order_shown", "criteria", "rewrite"}. Always in the company's order.
    `agreement` per criterion is Krippendorff's ordinal alpha (criterion_agreement)."""
    mode = content.get("mode", "pairwise")
    ids = candidate_ids(content)
    keys = [c["key"] for c in criteria_of(rubric)]
    criteria = {}
    for key in keys:
        choices = [r["criteria"][key] for r in reviews if key in (r.get("criteria") or {})]
        criteria[key] = {
            **criterion_consensus(mode, choices, ids),
            "agreement": criterion_agreement(mode, choices, ids),
        }
    if OVERALL in criteria:
        overall = {k: v for k, v in criteria[OVERALL].items() if k != "agreement"}
    else:
        pooled = [choice for r in reviews for choice in (r.get("criteria") or {}).values()]
        overall = criterion_consensus(mode, pooled, ids)
    return {
        "mode": mode,
        "candidates": ids,
        "consensus": overall,
        "criteria": criteria,
        "reviews": [
            {
                "assignment_id": str(r["assignment_id"]),
                "order_shown": list(r.get("order_shown") or []),
                "criteria": {k: dict(v) for k, v in (r.get("criteria") or {}).items()},
                "rewrite": r.get("rewrite") or None,
            }
            for r in reviews
        ],
    }


def request_result(
    *, content: dict[str, Any], rubric: list[dict[str, Any]] | None, reviews: list[dict[str, Any]]
) -> dict[str, Any]:
    """The whole `result` of a comparison request: the usual fields (verdict `compared`, no
    corrected output, the first review's summary, every reviewer's annotations tagged with the
    assignment and candidate) beside `comparison`. A review dict is results.consensus's with a
    `comparison` ({"order_shown", "criteria", "rewrite"}). The top-level `agreement` (a verdict
    measure) is null: a comparison's agreement is per criterion, in `comparison.criteria`."""
    ordered = sorted(reviews, key=lambda r: str(r.get("submitted_at") or ""))
    each = []
    for review in ordered:
        each.append(
            {
                "assignment_id": str(review["assignment_id"]),
                "verdict": COMPARED,
                "corrected_output": None,
                "summary": review.get("summary") or "",
                "scores": {},
                "annotations": [dict(a) for a in review.get("annotations") or []],
            }
        )
    annotations = [
        {**annotation, "assignment_id": r["assignment_id"]}
        for r in each
        for annotation in r["annotations"]
    ]
    annotations.sort(key=lambda a: (a.get("candidate") or "", a.get("start", 0), a.get("end", 0)))
    comparison = comparison_result(
        content=content,
        rubric=rubric,
        reviews=[
            {"assignment_id": r["assignment_id"], **(r.get("comparison") or {})} for r in ordered
        ],
    )
    return {
        "verdict": COMPARED,
        "corrected_output": None,
        "summary": each[0]["summary"] if each else "",
        "scores": {},
        "annotations": annotations if len(each) > 1 else (each[0]["annotations"] if each else []),
        "reviews": each,
        "agreement": None,
        "comparison": comparison,
    }
