"""The line formats, table-driven: one source row in, the lines out (datasets/formats.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from datasets.formats import LINES, REVIEW_FIELDS, body_text

RUBRIC = [
    {"key": "accuracy", "label": "Accuracy", "scale": 5},
    {"key": "tone", "label": "Tone", "scale": 3},
]


def review(assignment_id: str, verdict: str, corrected: str | None = None, **scores) -> dict:
    return {
        "assignment_id": assignment_id,
        "verdict": verdict,
        "corrected_output": corrected,
        "summary": "s",
        "scores": scores,
        "annotations": [],
    }


def request_row(*, content=None, result=None, rubric=RUBRIC, prompt="Summarize.", model="m-7b"):
    return {
        "id": "rr1",
        "title": "t",
        "prompt": prompt,
        "content": content or {"type": "text", "body": "The AI output."},
        "model_name": model,
        "rubric": rubric,
        "result": result,
        "specialization__slug": "medicine.radiology",
    }


def comparison_content(*ids: str) -> dict:
    return {
        "type": "comparison",
        "mode": "rank" if len(ids) > 2 else "pairwise",
        "candidates": [
            {"id": c, "type": "text", "body": f"answer {c}", "model": f"model-{c}"} for c in ids
        ],
        "blind_models": True,
    }


def comparison_result(ranking, scores, criteria, tie=False) -> dict:
    """`result.comparison` exactly as spec #18 defines it (what `compare` writes)."""
    return {
        "verdict": "compared",
        "corrected_output": None,
        "summary": "",
        "scores": {},
        "annotations": [],
        "reviews": [],
        "agreement": None,
        "comparison": {
            "mode": "rank" if len(ranking) > 2 else "pairwise",
            "candidates": sorted(ranking),
            "consensus": {"ranking": ranking, "scores": scores, "tie": tie},
            "criteria": {
                key: {"ranking": r, "scores": s, "tie": False, "agreement": None}
                for key, (r, s) in criteria.items()
            },
            "reviews": [
                {
                    "assignment_id": "as1",
                    "order_shown": list(reversed(ranking)),
                    "criteria": {"overall": {"ranking": ranking, "rationale": "clearer"}},
                    "rewrite": None,
                }
            ],
        },
    }


def _with_rewrites(result: dict, rewrite: str) -> dict:
    for each in result["comparison"]["reviews"]:
        each["rewrite"] = rewrite
    return result


BASE = {"review_request_id": "rr1", "specialization": "medicine.radiology"}

SFT_CASES = [
    (
        "approved: the AI output",
        request_row(result={"verdict": "approved", "corrected_output": None}),
        [
            {
                "id": "rr1:sft",
                "prompt": "Summarize.",
                "completion": "The AI output.",
                "source": "approved",
                "model": "m-7b",
                **BASE,
            }
        ],
    ),
    (
        "corrected: the consensus correction",
        request_row(result={"verdict": "corrected", "corrected_output": "Fixed."}),
        [
            {
                "id": "rr1:sft",
                "prompt": "Summarize.",
                "completion": "Fixed.",
                "source": "corrected",
                "model": "",
                **BASE,
            }
        ],
    ),
    ("rejected: nothing", request_row(result={"verdict": "rejected"}), []),
    (
        "json body as compact JSON",
        request_row(
            content={"type": "json", "body": {"a": [1, "é"]}},
            result={"verdict": "approved"},
            prompt="",
        ),
        [
            {
                "id": "rr1:sft",
                "prompt": "",
                "completion": '{"a":[1,"é"]}',
                "source": "approved",
                "model": "m-7b",
                **BASE,
            }
        ],
    ),
    (
        "comparison: the consensus winner",
        request_row(
            content=comparison_content("a", "b"),
            result=comparison_result(["b", "a"], {"a": 0.3, "b": 0.7}, {}),
        ),
        [
            {
                "id": "rr1:sft",
                "prompt": "Summarize.",
                "completion": "answer b",
                "source": "comparison",
                "model": "model-b",
                **BASE,
            }
        ],
    ),
    (
        "comparison: the winner, then each reviewer's rewrite",
        request_row(
            content=comparison_content("a", "b"),
            result=_with_rewrites(
                comparison_result(["b", "a"], {"a": 0.3, "b": 0.7}, {}), "The ideal answer."
            ),
        ),
        [
            {
                "id": "rr1:sft",
                "prompt": "Summarize.",
                "completion": "answer b",
                "source": "comparison",
                "model": "model-b",
                **BASE,
            },
            {
                "id": "rr1:sft:rewrite:as1",
                "prompt": "Summarize.",
                "completion": "The ideal answer.",
                "source": "rewrite",
                "model": "",
                **BASE,
            },
        ],
    ),
    (
        "comparison tie with a rewrite: the rewrite only",
        request_row(
            content=comparison_content("a", "b"),
            result=_with_rewrites(
                comparison_result(["a", "b"], {"a": 0.5, "b": 0.5}, {}, tie=True), "Better."
            ),
        ),
        [
            {
                "id": "rr1:sft:rewrite:as1",
                "prompt": "Summarize.",
                "completion": "Better.",
                "source": "rewrite",
                "model": "",
                **BASE,
            }
        ],
    ),
    (
        "comparison tie: nothing",
        request_row(
            content=comparison_content("a", "b"),
            result=comparison_result(["a", "b"], {"a": 0.5, "b": 0.5}, {}, tie=True),
        ),
        [],
    ),
]


def dpo(chosen, rejected, margin, criteria, source, chosen_id, rejected_id, cm, rm, line_id):
    return {
        "id": line_id,
        "prompt": "Summarize.",
        "chosen": chosen,
        "rejected": rejected,
        "margin": margin,
        "criteria": criteria,
        "source": source,
        "chosen_id": chosen_id,
        "rejected_id": rejected_id,
        "chosen_model": cm,
        "rejected_model": rm,
        **BASE,
    }


OVERALL_CHOSEN = [{"key": "overall", "label": "Overall", "preference": "chosen"}]

DPO_CASES = [
    (
        "one correction over the original",
        request_row(
            result={"verdict": "corrected", "reviews": [review("as1", "corrected", "Fixed.")]}
        ),
        [
            dpo(
                "Fixed.",
                "The AI output.",
                1.0,
                OVERALL_CHOSEN,
                "correction",
                "correction",
                "original",
                "",
                "m-7b",
                "rr1:correction:as1",
            )
        ],
    ),
    (
        "two reviewers, same correction: one pair; an approval gives none",
        request_row(
            result={
                "verdict": "corrected",
                "reviews": [
                    review("as1", "corrected", "Fixed."),
                    review("as2", "corrected", "Fixed."),
                    review("as3", "approved"),
                ],
            }
        ),
        [
            dpo(
                "Fixed.",
                "The AI output.",
                1.0,
                OVERALL_CHOSEN,
                "correction",
                "correction",
                "original",
                "",
                "m-7b",
                "rr1:correction:as1",
            )
        ],
    ),
    (
        "approved only: no pair",
        request_row(result={"verdict": "approved", "reviews": [review("as1", "approved")]}),
        [],
    ),
    (
        "pairwise comparison: the winner over the loser, criteria labelled from the rubric",
        request_row(
            content=comparison_content("a", "b"),
            result=comparison_result(
                ["b", "a"],
                {"a": 0.25, "b": 0.75},
                {
                    "accuracy": (["b", "a"], {"a": 0.2, "b": 0.8}),
                    "tone": (["a", "b"], {"a": 0.6, "b": 0.4}),
                },
            ),
        ),
        [
            dpo(
                "answer b",
                "answer a",
                0.5,
                [
                    {"key": "accuracy", "label": "Accuracy", "preference": "chosen"},
                    {"key": "tone", "label": "Tone", "preference": "rejected"},
                ],
                "comparison",
                "b",
                "a",
                "model-b",
                "model-a",
                "rr1:b>a",
            )
        ],
    ),
    (
        "rank comparison: the top over each lower one; an equal score is no pair",
        request_row(
            content=comparison_content("a", "b", "c"),
            rubric=[],
            result=comparison_result(
                ["c", "a", "b"],
                {"a": 0.3, "b": 0.3, "c": 0.4},
                {"overall": (["c", "a", "b"], {"a": 0.3, "b": 0.3, "c": 0.4})},
            ),
        ),
        [
            dpo(
                "answer c",
                "answer a",
                0.1,
                [{"key": "overall", "label": "Overall", "preference": "chosen"}],
                "comparison",
                "c",
                "a",
                "model-c",
                "model-a",
                "rr1:c>a",
            ),
            dpo(
                "answer c",
                "answer b",
                0.1,
                [{"key": "overall", "label": "Overall", "preference": "chosen"}],
                "comparison",
                "c",
                "b",
                "model-c",
                "model-b",
                "rr1:c>b",
            ),
        ],
    ),
    (
        "pairwise tie: no pair",
        request_row(
            content=comparison_content("a", "b"),
            result=comparison_result(["a", "b"], {"a": 0.5, "b": 0.5}, {}, tie=True),
        ),
        [],
    ),
]

RUBRIC_CASES = [
    (
        "one line per reviewer who scored, in rubric order",
        request_row(
            result={
                "verdict": "corrected",
                "reviews": [
                    review("as1", "corrected", "Fixed.", tone=2, accuracy=4),
                    review("as2", "approved"),
                ],
            }
        ),
        [
            {
                "id": "rr1:as1",
                "prompt": "Summarize.",
                "output": "The AI output.",
                "scores": [
                    {"key": "accuracy", "label": "Accuracy", "score": 4, "scale": 5},
                    {"key": "tone", "label": "Tone", "score": 2, "scale": 3},
                ],
                "verdict": "corrected",
                "assignment_id": "as1",
                "model": "m-7b",
                **BASE,
            }
        ],
    ),
    (
        "comparisons have no single output: none",
        request_row(
            content=comparison_content("a", "b"),
            result=comparison_result(["a", "b"], {"a": 0.6, "b": 0.4}, {}),
        ),
        [],
    ),
]


@pytest.mark.parametrize(("fmt", "row", "expected"), [
    *(pytest.param("sft", row, lines, id=f"sft: {name}") for name, row, lines in SFT_CASES),
    *(pytest.param("dpo", row, lines, id=f"dpo: {name}") for name, row, lines in DPO_CASES),
    *(pytest.param("rubric", row, lines, id=f"rubric: {name}") for name, row, lines in RUBRIC_CASES),
])  # fmt: skip
def test_lines_of_each_format(fmt, row, expected):
    assert list(LINES[fmt](row)) == expected


def test_raw_keeps_every_review_with_its_timing_and_comparison_entry():
    when = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    request = "assignment__review_request__"
    row = dict.fromkeys(REVIEW_FIELDS)
    row.update({
        "id": 7, "verdict": "approved", "summary": "ok", "scores": {"accuracy": 5},
        "annotations": [{"start": 0, "end": 3, "quote": "The", "comment": "c", "severity": "info"}],
        "submitted_at": when, "assignment_id": "as1", "assignment__status": "submitted",
        "assignment__expert_id": "ex1", "assignment__accepted_at": when,
        "assignment__billed_seconds": 600, "assignment__max_seconds": 3600,
        "assignment__review_request_id": "rr1", request + "title": "t",
        request + "content": comparison_content("a", "b"),
        request + "result": comparison_result(["a", "b"], {"a": 0.6, "b": 0.4}, {}),
        request + "specialization__slug": "law", request + "metadata": {"policy": "p1"},
    })  # fmt: skip
    [line] = list(LINES["raw"](row))
    assert line["assignment"]["billed_seconds"] == 600
    assert line["assignment"]["accepted_at"] == "2026-12-07T10:00:00+00:00"
    assert line["assignment"]["started_at"] is None
    assert line["annotations"][0]["quote"] == "The"
    assert line["review_request"]["metadata"] == {"policy": "p1"}
    assert line["comparison"]["order_shown"] == ["b", "a"]


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("plain", "plain"),
        ({"k": 1}, '{"k":1}'),
        ([{"role": "user", "content": "hi"}], '[{"role":"user","content":"hi"}]'),
    ],
)
def test_body_text(body, text):
    assert body_text(body) == text
