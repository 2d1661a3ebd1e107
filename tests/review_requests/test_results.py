"""Results and consensus (pure, table-driven)."""

from __future__ import annotations

import pytest

from review_requests.results import consensus, majority_verdict, mean_scores, pairwise_agreement


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


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        (["approved"], None),
        (["approved", "approved"], 1.0),
        (["approved", "rejected"], 0.0),
        (["approved", "approved", "rejected"], 0.3333),
        (["approved", "corrected", "rejected"], 0.0),
        (["approved"] * 4 + ["rejected"], 0.6),
    ],
)
def test_agreement_is_the_share_of_agreeing_pairs(verdicts, expected):
    assert pairwise_agreement(verdicts) == expected


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
