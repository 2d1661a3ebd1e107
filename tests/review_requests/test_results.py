"""Results and consensus (pure, table-driven)."""

from __future__ import annotations

import pytest

from review_requests.results import consensus, majority_verdict, mean_scores


def review(n: int, verdict: str, **extra) -> dict:
    return {
        "assignment_id": f"a{n}",
        "verdict": verdict,
        "corrected_output": extra.get("corrected_output"),
        "summary": extra.get("summary", f"summary {n}"),
        "scores": extra.get("scores", {}),
        "annotations": extra.get("annotations", []),
        "submitted_at": f"2026-03-02T09:0{n}:00+00:00",
    }


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        (["approved"], "approved"),
        (["approved", "approved", "rejected"], "approved"),
        (["approved", "rejected"], "rejected"),  # tie: the stricter wins
        (["approved", "corrected"], "corrected"),
        (["corrected", "rejected"], "rejected"),
        (["approved", "corrected", "rejected"], "rejected"),
        (["corrected", "corrected", "approved", "approved", "rejected"], "corrected"),
    ],
)
def test_majority_verdict(verdicts, expected):
    assert majority_verdict(verdicts) == expected


def test_mean_scores_per_key_over_the_reviews_that_scored_it():
    assert mean_scores([{"accuracy": 4, "clarity": 3}, {"accuracy": 5}, {}]) == {
        "accuracy": 4.5,
        "clarity": 3.0,
    }


def test_one_reviewer_result_is_that_review():
    only = review(
        1,
        "corrected",
        corrected_output="Fixed.",
        scores={"accuracy": 2},
        annotations=[{"start": 0, "end": 3, "quote": "The", "comment": "c", "severity": "minor"}],
    )
    result = consensus([only])
    assert result["verdict"] == "corrected"
    assert result["corrected_output"] == "Fixed."
    assert result["summary"] == "summary 1"
    assert result["scores"] == {"accuracy": 2}
    assert result["annotations"][0]["quote"] == "The"
    assert result["agreement"] is None
    assert [r["assignment_id"] for r in result["reviews"]] == ["a1"]


def test_an_approval_carries_no_corrected_output():
    result = consensus([review(1, "approved", corrected_output="leftover draft")])
    assert result["corrected_output"] is None


def test_several_reviewers_give_majority_mean_first_correction_and_merged_annotations():
    a = {"start": 5, "end": 9, "quote": "scan", "comment": "x", "severity": "major"}
    b = {"start": 0, "end": 3, "quote": "The", "comment": "y", "severity": "info"}
    result = consensus(
        [
            review(3, "approved", scores={"accuracy": 5}),
            review(
                1, "corrected", corrected_output="first", scores={"accuracy": 2}, annotations=[a]
            ),
            review(
                2, "corrected", corrected_output="second", scores={"accuracy": 3}, annotations=[b]
            ),
        ]
    )
    assert result["verdict"] == "corrected"
    assert result["corrected_output"] == "first"  # the first submitted correction
    assert result["summary"] == "summary 1"
    assert result["scores"] == {"accuracy": 3.33}
    assert [(x["start"], x["assignment_id"]) for x in result["annotations"]] == [
        (0, "a2"),
        (5, "a1"),
    ]
    assert [r["assignment_id"] for r in result["reviews"]] == ["a1", "a2", "a3"]
    assert result["agreement"] == 0.3333


def test_consensus_needs_a_review():
    with pytest.raises(ValueError):
        consensus([])


# Independent reviews: agreement detail, adjudication ---------------------------------------

from review_requests.results import adjudicated_result, adjudication_needed  # noqa: E402


def test_consensus_carries_the_agreement_detail():
    result = consensus(
        [
            review(1, "approved", scores={"accuracy": 4}),
            review(2, "approved", scores={"accuracy": 4}),
        ],
        [{"key": "accuracy", "label": "Accuracy", "scale": 5}],
    )
    assert result["agreement"] == 1.0
    assert result["agreement_detail"] == {
        "verdict": 1.0,
        "scores": {"accuracy": 1.0},
        "criteria": {},
    }


@pytest.mark.parametrize(
    ("verdicts", "four_eyes", "threshold", "expected"),
    [
        (["approved"], True, 0.9, False),  # one review: nothing to adjudicate
        (["approved", "approved"], True, None, False),  # four-eyes, agreed
        (["approved", "rejected"], True, None, True),  # four-eyes, disagreed
        (["approved", "rejected"], False, None, False),  # neither option: consensus
        (["approved", "rejected"], False, 0.5, True),  # threshold set: any verdict split
        (["approved", "approved"], False, 1.0, False),  # agreement 1.0 is not below 1.0
        (["approved", "approved", "rejected"], False, 0.3, True),  # verdicts differ
    ],
)
def test_when_adjudication_is_needed(verdicts, four_eyes, threshold, expected):
    result = consensus([review(n, v) for n, v in enumerate(verdicts, start=1)])
    assert adjudication_needed(result, four_eyes=four_eyes, threshold=threshold) is expected


def test_the_adjudicator_decides_the_final_result():
    independent = consensus(
        [
            review(1, "approved", scores={"accuracy": 5}),
            review(2, "rejected", scores={"accuracy": 1}),
        ]
    )
    decided = review(3, "corrected", corrected_output="Fixed.", summary="Both half right.")
    result = adjudicated_result(independent, decided, four_eyes=True)
    assert result["verdict"] == "corrected"
    assert result["corrected_output"] == "Fixed."
    assert result["summary"] == "Both half right."
    assert result["scores"] == {"accuracy": 3.0}  # the adjudicator gave none: the reviewers' mean
    assert result["adjudication"] == {
        "assignment_id": "a3",
        "verdict": "corrected",
        "summary": "Both half right.",
    }
    assert result["four_eyes"] == {"agreed": False, "adjudicated": True}
    assert [r["assignment_id"] for r in result["reviews"]] == ["a1", "a2"]
    assert result["agreement"] == 0.0


def test_without_adjudication_the_consensus_stands():
    independent = consensus([review(1, "approved"), review(2, "approved")])
    result = adjudicated_result(independent, None, four_eyes=True)
    assert result["adjudication"] is None
    assert result["four_eyes"] == {"agreed": True, "adjudicated": False}
    assert "four_eyes" not in adjudicated_result(independent, None, four_eyes=False)
