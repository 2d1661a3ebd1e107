"""The line formats of an export: one pure function per format, from one source row to the lines
it gives (table-tested in tests/datasets/test_formats.py).

A source row is a `values()` row: a review request (`REQUEST_FIELDS`) for `sft`, `dpo` and
`rubric`, one submitted review with its assignment and request (`REVIEW_FIELDS`) for `raw`.
The lines of `sft`, `dpo` and `rubric` have the same keys and types on every line (no key that
is null on some lines and a string on others, no object whose keys change from line to line), so
column loaders such as Hugging Face `datasets`' JSON loader read them without a schema; `raw`
keeps every nested object as stored. docs/contract/exports.md is the reference of each field.

An output as text: a string body as it is; `json` and `chat` bodies as compact JSON (chat: the
list of `{"role", "content"}` messages), so nothing of them is lost.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

SCHEMA_VERSIONS = {
    "sft": "inloop.sft.v1",
    "dpo": "inloop.dpo.v1",
    "rubric": "inloop.rubric.v1",
    "raw": "inloop.raw.v1",
}

REQUEST_FIELDS = (
    "id",
    "title",
    "prompt",
    "content",
    "model_name",
    "rubric",
    "result",
    "specialization__slug",
)
REVIEW_FIELDS = (
    "id",
    "verdict",
    "corrected_output",
    "summary",
    "scores",
    "annotations",
    "submitted_at",
    "assignment_id",
    "assignment__status",
    "assignment__expert_id",
    "assignment__accepted_at",
    "assignment__started_at",
    "assignment__submitted_at",
    "assignment__billed_seconds",
    "assignment__max_seconds",
    "assignment__review_request_id",
    "assignment__review_request__title",
    "assignment__review_request__status",
    "assignment__review_request__prompt",
    "assignment__review_request__content",
    "assignment__review_request__model_name",
    "assignment__review_request__rubric",
    "assignment__review_request__metadata",
    "assignment__review_request__result",
    "assignment__review_request__created_at",
    "assignment__review_request__completed_at",
    "assignment__review_request__specialization__slug",
)

OVERALL = "overall"
# A correction is a full preference of the expert's text over the original (margins of
# comparison pairs are differences of consensus scores that sum to 1, so they are 0-1 too).
CORRECTION_MARGIN = 1.0

Line = dict[str, Any]


def body_text(body: Any) -> str:
    if isinstance(body, str):
        return body
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _is_comparison(content: Any) -> bool:
    return isinstance(content, dict) and content.get("type") == "comparison"


def _labels(rubric: Any) -> dict[str, str]:
    """Rubric key -> label, in rubric order; `overall` when the rubric does not name it."""
    labels = {
        str(item["key"]): str(item.get("label") or item["key"])
        for item in rubric or []
        if isinstance(item, dict) and item.get("key")
    }
    labels.setdefault(OVERALL, "Overall")
    return labels


def _scales(rubric: Any) -> dict[str, int]:
    return {
        str(item["key"]): int(item.get("scale") or 5)
        for item in rubric or []
        if isinstance(item, dict) and item.get("key")
    }


def _base(row: dict[str, Any]) -> Line:
    return {"review_request_id": str(row["id"]), "specialization": row["specialization__slug"]}


# sft -----------------------------------------------------------------------------------------


def _comparison_winner(content: dict, comparison: dict) -> dict | None:
    """The consensus's first candidate, unless the consensus is a tie at the top."""
    consensus = comparison.get("consensus") or {}
    ranking, scores = consensus.get("ranking") or [], consensus.get("scores") or {}
    if not ranking or consensus.get("tie"):
        return None
    if len(ranking) > 1 and scores.get(ranking[0], 0) <= scores.get(ranking[1], 0):
        return None
    return _candidates(content).get(ranking[0])


def sft_lines(row: dict[str, Any]) -> Iterator[Line]:
    """One line per request with a good answer: the corrected output (`source: corrected`), the
    AI output when approved (`approved`), or a comparison's consensus winner (`comparison`);
    and one more per reviewer's rewrite of a comparison (`rewrite`: the ideal answer an expert
    wrote). Rejected outputs and tied comparisons without a rewrite give none."""
    result, content = row["result"] or {}, row["content"] or {}
    verdict = result.get("verdict")
    if _is_comparison(content):
        comparison = result.get("comparison") or {}
        winner = _comparison_winner(content, comparison)
        if winner is not None:
            yield _sft(row, body_text(winner.get("body")), "comparison", winner.get("model"))
        for review in comparison.get("reviews") or []:
            if review.get("rewrite"):
                line_id = f"{row['id']}:sft:rewrite:{review['assignment_id']}"
                yield _sft(row, review["rewrite"], "rewrite", "", line_id=line_id)
    elif verdict == "approved":
        yield _sft(row, body_text(content.get("body")), "approved", row["model_name"])
    elif verdict == "corrected" and result.get("corrected_output"):
        yield _sft(row, result["corrected_output"], "corrected", "")


def _sft(row: dict[str, Any], completion: str, source: str, model, *, line_id="") -> Line:
    return {
        "id": line_id or f"{row['id']}:sft",
        "prompt": row["prompt"] or "",
        "completion": completion,
        "source": source,
        "model": model or "",
        **_base(row),
    }


# dpo -----------------------------------------------------------------------------------------


def _candidates(content: dict) -> dict[str, dict]:
    return {
        str(c["id"]): c
        for c in content.get("candidates") or []
        if isinstance(c, dict) and "id" in c
    }


def _preference(scores: dict, chosen: str, rejected: str) -> str:
    a, b = scores.get(chosen), scores.get(rejected)
    if a is None or b is None or a == b:
        return "tie"
    return "chosen" if a > b else "rejected"


def _pair_criteria(comparison: dict, labels: dict[str, str], chosen: str, rejected: str) -> list:
    criteria = comparison.get("criteria") or {}
    order = [key for key in labels if key in criteria] + sorted(set(criteria) - set(labels))
    return [
        {
            "key": key,
            "label": labels.get(key, key),
            "preference": _preference(criteria[key].get("scores") or {}, chosen, rejected),
        }
        for key in order
    ]


def _comparison_pairs(row: dict[str, Any], content: dict, comparison: dict) -> Iterator[Line]:
    """The consensus's top candidate over each lower one (`result.comparison`, spec #18); a pair
    whose consensus scores are equal is no preference and is left out."""
    consensus = comparison.get("consensus") or {}
    ranking, scores = consensus.get("ranking") or [], consensus.get("scores") or {}
    candidates, labels = _candidates(content), _labels(row["rubric"])
    if len(ranking) < 2 or ranking[0] not in candidates:
        return
    top = ranking[0]
    for lower in ranking[1:]:
        margin = round(float(scores.get(top, 0)) - float(scores.get(lower, 0)), 4)
        if lower not in candidates or margin <= 0:
            continue
        yield {
            "id": f"{row['id']}:{top}>{lower}",
            "prompt": row["prompt"] or "",
            "chosen": body_text(candidates[top].get("body")),
            "rejected": body_text(candidates[lower].get("body")),
            "margin": margin,
            "criteria": _pair_criteria(comparison, labels, top, lower),
            "source": "comparison",
            "chosen_id": top,
            "rejected_id": lower,
            "chosen_model": candidates[top].get("model") or "",
            "rejected_model": candidates[lower].get("model") or "",
            **_base(row),
        }


def _correction_pairs(row: dict[str, Any], content: dict, result: dict) -> Iterator[Line]:
    """Each reviewer's corrected output over the AI output (one line per distinct correction)."""
    original = body_text(content.get("body"))
    seen: set[str] = set()
    for review in result.get("reviews") or []:
        corrected = review.get("corrected_output")
        if review.get("verdict") != "corrected" or not corrected or corrected in seen:
            continue
        if corrected == original:
            continue
        seen.add(corrected)
        yield {
            "id": f"{row['id']}:correction:{review.get('assignment_id')}",
            "prompt": row["prompt"] or "",
            "chosen": corrected,
            "rejected": original,
            "margin": CORRECTION_MARGIN,
            "criteria": [{"key": OVERALL, "label": "Overall", "preference": "chosen"}],
            "source": "correction",
            "chosen_id": "correction",
            "rejected_id": "original",
            "chosen_model": "",
            "rejected_model": row["model_name"] or "",
            **_base(row),
        }


def dpo_lines(row: dict[str, Any]) -> Iterator[Line]:
    """Preference pairs: from a comparison's consensus, the top candidate over each lower one;
    from a reviewed output, each expert's correction over the original."""
    result, content = row["result"] or {}, row["content"] or {}
    if _is_comparison(content):
        yield from _comparison_pairs(row, content, result.get("comparison") or {})
    else:
        yield from _correction_pairs(row, content, result)


# rubric --------------------------------------------------------------------------------------


def rubric_lines(row: dict[str, Any]) -> Iterator[Line]:
    """One line per reviewer who scored the output: `scores` as a list in rubric order."""
    result, content = row["result"] or {}, row["content"] or {}
    if _is_comparison(content):
        return
    labels, scales = _labels(row["rubric"]), _scales(row["rubric"])
    output = body_text(content.get("body"))
    for review in result.get("reviews") or []:
        given = review.get("scores") or {}
        order = [key for key in labels if key in given] + sorted(set(given) - set(labels))
        scores = [
            {
                "key": key,
                "label": labels.get(key, key),
                "score": given[key],
                "scale": scales.get(key, 5),
            }
            for key in order
            if isinstance(given[key], int | float) and not isinstance(given[key], bool)
        ]
        if not scores:
            continue
        yield {
            "id": f"{row['id']}:{review.get('assignment_id')}",
            "prompt": row["prompt"] or "",
            "output": output,
            "scores": scores,
            "verdict": review.get("verdict") or "",
            "assignment_id": str(review.get("assignment_id")),
            "model": row["model_name"] or "",
            **_base(row),
        }


# raw -----------------------------------------------------------------------------------------


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _comparison_review(result: dict, assignment_id: str) -> dict | None:
    comparison = result.get("comparison") or {}
    for review in comparison.get("reviews") or []:
        if str(review.get("assignment_id")) == assignment_id:
            return review
    return None


def raw_lines(row: dict[str, Any]) -> Iterator[Line]:
    """Every submitted review as stored: its request, annotations, timing and, for comparisons,
    this reviewer's entry of `result.comparison.reviews`."""
    request = "assignment__review_request__"
    result = row[request + "result"] or {}
    assignment_id = str(row["assignment_id"])
    yield {
        "review_id": row["id"],
        "review_request": {
            "id": str(row["assignment__review_request_id"]),
            "title": row[request + "title"],
            "status": row[request + "status"],
            "specialization": row[request + "specialization__slug"],
            "prompt": row[request + "prompt"],
            "content": row[request + "content"],
            "model": row[request + "model_name"],
            "rubric": row[request + "rubric"],
            "metadata": row[request + "metadata"],
            "created_at": _iso(row[request + "created_at"]),
            "completed_at": _iso(row[request + "completed_at"]),
            "agreement": result.get("agreement"),
        },
        "assignment": {
            "id": assignment_id,
            "status": row["assignment__status"],
            "expert_id": str(row["assignment__expert_id"]),
            "accepted_at": _iso(row["assignment__accepted_at"]),
            "started_at": _iso(row["assignment__started_at"]),
            "submitted_at": _iso(row["assignment__submitted_at"]),
            "billed_seconds": row["assignment__billed_seconds"],
            "max_seconds": row["assignment__max_seconds"],
        },
        "verdict": row["verdict"],
        "corrected_output": row["corrected_output"],
        "summary": row["summary"],
        "scores": row["scores"] or {},
        "annotations": row["annotations"] or [],
        "submitted_at": _iso(row["submitted_at"]),
        "comparison": _comparison_review(result, assignment_id),
    }


LINES: dict[str, Callable[[dict[str, Any]], Iterator[Line]]] = {
    "sft": sft_lines,
    "dpo": dpo_lines,
    "rubric": rubric_lines,
    "raw": raw_lines,
}
FORMATS = tuple(LINES)
# Whether a format reads reviews (one source row each) rather than requests.
READS_REVIEWS = {"raw"}
