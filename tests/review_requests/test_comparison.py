"""review_requests.comparison: the order a reviewer sees, draft checks, and the consensus of
comparison reviews (table-driven), with a Hypothesis property of Bradley-Terry."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from review_requests import comparison as cmp
from tests.factories import comparison_content

IDS = ["a", "b", "c", "d"]


# Order shown ------------------------------------------------------------------------------


def test_order_shown_is_a_permutation_and_the_same_for_the_same_seed():
    first = cmp.order_shown(IDS, seed="assignment-1")
    assert sorted(first) == IDS
    assert cmp.order_shown(IDS, seed="assignment-1") == first


def test_order_shown_differs_between_assignments():
    orders = {tuple(cmp.order_shown(IDS, seed=f"assignment-{n}")) for n in range(40)}
    assert len(orders) > 5


def test_candidates_shown_hides_models_and_labels_in_shown_order():
    content = comparison_content("rank", 3)
    shown = cmp.candidates_shown(content, seed="s", hide_models=True)
    assert [c["id"] for c in shown] == cmp.order_shown(["a", "b", "c"], seed="s")
    assert [c["label"] for c in shown] == ["A", "B", "C"]
    assert all("model" not in c for c in shown)
    assert all("model" in c for c in cmp.candidates_shown(content, seed="s", hide_models=False))
    assert all("label" not in c for c in content["candidates"])  # the stored content untouched


@pytest.mark.parametrize(
    ("rubric", "keys"),
    [
        (None, ["overall"]),
        ([], ["overall"]),
        (
            [{"key": "accuracy", "label": "Accuracy", "scale": 5}, {"key": "tone"}],
            ["accuracy", "tone"],
        ),
    ],
)
def test_criteria_are_the_rubric_keys_or_overall(rubric, keys):
    criteria = cmp.criteria_of(rubric)
    assert [c["key"] for c in criteria] == keys
    assert criteria[-1]["label"] in ("Overall", "tone")


# Draft checks ------------------------------------------------------------------------------

PAIRWISE = comparison_content("pairwise", 2)
RANK = comparison_content("rank", 3)
RUBRIC = [{"key": "accuracy", "label": "Accuracy"}, {"key": "clarity", "label": "Clarity"}]


@pytest.mark.parametrize(
    ("content", "choice", "field"),
    [
        (PAIRWISE, {"winner": "z", "strength": 1}, "comparison.criteria.accuracy.winner"),
        (PAIRWISE, {"winner": "a", "strength": 0}, "comparison.criteria.accuracy.winner"),
        (PAIRWISE, {"winner": None, "strength": 2}, "comparison.criteria.accuracy.winner"),
        (PAIRWISE, {"ranking": ["a", "b"]}, "comparison.criteria.accuracy"),
        (RANK, {"ranking": ["a", "b"]}, "comparison.criteria.accuracy.ranking"),
        (RANK, {"ranking": ["a", "a", "b"]}, "comparison.criteria.accuracy.ranking"),
        (RANK, {"ranking": ["a", "b", "z"]}, "comparison.criteria.accuracy.ranking"),
        (RANK, {"winner": "a", "strength": 1}, "comparison.criteria.accuracy"),
    ],
)
def test_draft_check_refuses_a_choice_that_does_not_fit(content, choice, field):
    with pytest.raises(cmp.ComparisonRefused) as refused:
        cmp.draft_check({"criteria": {"accuracy": choice}}, content=content, rubric=RUBRIC)
    assert refused.value.field == field


def test_draft_check_refuses_a_criterion_not_in_the_rubric():
    with pytest.raises(cmp.ComparisonRefused) as refused:
        cmp.draft_check({"criteria": {"style": {}}}, content=PAIRWISE, rubric=RUBRIC)
    assert refused.value.field == "comparison.criteria.style"


@pytest.mark.parametrize(
    ("content", "choice"),
    [
        (PAIRWISE, {"winner": "a", "strength": 2, "rationale": "clearer"}),
        (PAIRWISE, {"winner": None, "strength": 0}),
        (PAIRWISE, {"rationale": "thinking"}),  # not chosen yet
        (RANK, {"ranking": ["c", "a", "b"]}),
        (RANK, {"rationale": "later"}),
    ],
)
def test_draft_check_keeps_a_choice_that_fits(content, choice):
    checked = cmp.draft_check(
        {"criteria": {"accuracy": choice}, "rewrite": "ideal"}, content=content, rubric=RUBRIC
    )
    assert checked["rewrite"] == "ideal"
    assert checked["criteria"]["accuracy"]["rationale"] == choice.get("rationale", "")


@pytest.mark.parametrize(
    ("content", "criteria", "missing"),
    [
        (PAIRWISE, {}, "accuracy"),
        (PAIRWISE, {"accuracy": {"winner": None, "strength": 0}}, "clarity"),
        (PAIRWISE, {"accuracy": {"strength": 0}, "clarity": {"rationale": "x"}}, "clarity"),
        (PAIRWISE, {"accuracy": {"strength": 0}, "clarity": {"winner": "b", "strength": 1}}, None),
        (RANK, {"accuracy": {"ranking": ["a", "b", "c"]}}, "clarity"),
        (RANK, {"accuracy": {"ranking": IDS[:3]}, "clarity": {"ranking": IDS[:3]}}, None),
    ],
)
def test_draft_unfilled_names_the_first_criterion_without_a_choice(content, criteria, missing):
    assert cmp.draft_unfilled({"criteria": criteria}, content=content, rubric=RUBRIC) == missing


# Consensus ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choices", "ranking", "scores", "tie"),
    [
        ([{"winner": "b", "strength": 1}], ["b", "a"], {"a": 0.0, "b": 1.0}, False),
        (
            [{"winner": "a", "strength": 1}, {"winner": "b", "strength": 2}],
            ["b", "a"],
            {"a": 0.3333, "b": 0.6667},
            False,
        ),
        (
            [{"winner": "a", "strength": 1}, {"winner": "b", "strength": 1}],
            ["a", "b"],
            {"a": 0.5, "b": 0.5},
            True,
        ),
        ([{"winner": None, "strength": 0}], ["a", "b"], {"a": 0.5, "b": 0.5}, True),
        (
            [{"winner": "a", "strength": 2}, {"winner": None, "strength": 0}],
            ["a", "b"],
            {"a": 1.0, "b": 0.0},
            False,
        ),
    ],
)
def test_pairwise_consensus_is_the_strength_weighted_majority(choices, ranking, scores, tie):
    assert cmp.pairwise_consensus(choices, ["a", "b"]) == {
        "ranking": ranking,
        "scores": scores,
        "tie": tie,
    }


@pytest.mark.parametrize(
    ("rankings", "expected"),
    [
        ([["c", "b", "a"]], ["c", "b", "a"]),
        ([["b", "a", "c"], ["b", "c", "a"]], ["b", "a", "c"]),  # a and c tie: company order
        ([["a", "b", "c"], ["b", "a", "c"], ["b", "c", "a"]], ["b", "a", "c"]),
    ],
)
def test_rank_consensus_orders_by_bradley_terry(rankings, expected):
    outcome = cmp.rank_consensus(rankings, ["a", "b", "c"])
    assert outcome["ranking"] == expected
    assert sum(outcome["scores"].values()) == pytest.approx(1.0, abs=1e-3)


def test_rank_consensus_of_opposite_rankings_is_a_tie():
    outcome = cmp.rank_consensus([["a", "b"], ["b", "a"]], ["a", "b"])
    assert outcome["tie"] is True
    assert outcome["scores"] == {"a": 0.5, "b": 0.5}


def test_bradley_terry_matches_a_known_fit():
    # a beats b twice, b beats a once: the MLE ratio without prior is 2:1; the prior pulls a
    # little towards even.
    strengths = cmp.bradley_terry([("a", "b"), ("a", "b"), ("b", "a")], ["a", "b"])
    assert strengths["a"] / strengths["b"] == pytest.approx(2.1 / 1.1, rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=2, max_value=4).flatmap(
        lambda n: st.tuples(
            st.just(IDS[:n]),
            st.lists(st.permutations(IDS[:n]), min_size=1, max_size=6),
            st.sampled_from(IDS[:n]),
        )
    )
)
def test_bradley_terry_ranks_first_a_candidate_that_wins_every_pair(case):
    ids, rankings, champion = case
    # The champion is moved to the top of every ranking: it wins every pair it is in.
    rankings = [[champion, *[cid for cid in ranking if cid != champion]] for ranking in rankings]
    outcome = cmp.rank_consensus(rankings, ids)
    assert outcome["ranking"][0] == champion
    assert outcome["tie"] is False
    assert all(
        outcome["scores"][champion] > outcome["scores"][cid] for cid in ids if cid != champion
    )


def _review(assignment_id, criteria, order=("b", "a"), rewrite=None):
    return {
        "assignment_id": assignment_id,
        "order_shown": list(order),
        "criteria": criteria,
        "rewrite": rewrite,
    }


def test_comparison_result_per_criterion_and_overall_pooled_without_an_overall_key():
    reviews = [
        _review(
            "r1",
            {
                "accuracy": {"winner": "b", "strength": 2, "rationale": "x"},
                "clarity": {"winner": "a", "strength": 1, "rationale": ""},
            },
        ),
        _review(
            "r2",
            {
                "accuracy": {"winner": "b", "strength": 1, "rationale": ""},
                "clarity": {"winner": None, "strength": 0, "rationale": ""},
            },
            rewrite="ideal",
        ),
    ]
    result = cmp.comparison_result(content=PAIRWISE, rubric=RUBRIC, reviews=reviews)
    assert result["mode"] == "pairwise"
    assert result["candidates"] == ["a", "b"]
    assert result["criteria"]["accuracy"] == {
        "ranking": ["b", "a"],
        "scores": {"a": 0.0, "b": 1.0},
        "tie": False,
        "agreement": 0.0,  # one unit, two different strengths: alpha 0
    }
    assert result["criteria"]["clarity"]["ranking"] == ["a", "b"]
    # Pooled: b has 3, a has 1.
    assert result["consensus"] == {
        "ranking": ["b", "a"],
        "scores": {"a": 0.25, "b": 0.75},
        "tie": False,
    }
    assert [r["assignment_id"] for r in result["reviews"]] == ["r1", "r2"]
    assert result["reviews"][1]["rewrite"] == "ideal"
    assert result["reviews"][0]["order_shown"] == ["b", "a"]


def test_comparison_result_uses_the_overall_criterion_when_there_is_one():
    reviews = [
        _review(
            "r1", {"overall": {"ranking": ["c", "a", "b"], "rationale": ""}}, order=("a", "b", "c")
        )
    ]
    result = cmp.comparison_result(content=RANK, rubric=None, reviews=reviews)
    assert list(result["criteria"]) == ["overall"]
    assert result["consensus"]["ranking"] == ["c", "a", "b"]
    assert "agreement" not in result["consensus"]


def test_request_result_has_the_usual_fields_and_the_comparison():
    reviews = [
        {
            "assignment_id": "r1",
            "verdict": "compared",
            "summary": "B is right",
            "annotations": [
                {
                    "start": 0,
                    "end": 3,
                    "quote": "The",
                    "comment": "",
                    "severity": "minor",
                    "candidate": "a",
                }
            ],
            "submitted_at": "2026-12-07T10:00:00+00:00",
            "comparison": {
                "order_shown": ["a", "b"],
                "criteria": {"overall": {"winner": "b", "strength": 1, "rationale": ""}},
                "rewrite": None,
            },
        }
    ]
    result = cmp.request_result(content=PAIRWISE, rubric=[], reviews=reviews)
    assert result["verdict"] == "compared"
    assert result["corrected_output"] is None
    assert result["scores"] == {}
    assert result["summary"] == "B is right"
    assert result["agreement"] is None
    assert result["annotations"][0]["candidate"] == "a"
    assert result["reviews"][0]["verdict"] == "compared"
    assert result["comparison"]["consensus"]["ranking"] == ["b", "a"]


@pytest.mark.parametrize(
    ("mode", "choices", "expected"),
    [
        # One reviewer: nothing to agree with.
        ("pairwise", [{"winner": "a", "strength": 2}], None),
        # The same choice twice: complete agreement; opposite winners: none beyond chance.
        ("pairwise", [{"winner": "a", "strength": 1}, {"winner": "a", "strength": 1}], 1.0),
        ("pairwise", [{"winner": "a", "strength": 1}, {"winner": "b", "strength": 2}], 0.0),
        # Opposite rankings of three candidates: systematic disagreement (alpha below zero).
        ("rank", [{"ranking": ["a", "b", "c"]}, {"ranking": ["c", "b", "a"]}], "negative"),
        ("rank", [{"ranking": ["a", "b", "c"]}, {"ranking": ["a", "b", "c"]}], 1.0),
    ],
)
def test_a_criterions_agreement_is_krippendorffs_ordinal_alpha(mode, choices, expected):
    ids = ["a", "b"] if mode == "pairwise" else ["a", "b", "c"]
    value = cmp.criterion_agreement(mode, choices, ids)
    if expected == "negative":
        assert value is not None and value < 0
    else:
        assert value == expected
