"""Agreement (review_requests.agreement), table-driven: values from Krippendorff's own worked
examples ("Computing Krippendorff's Alpha-Reliability", 2011), values computed by hand, and the
degenerate cases the module defines."""

from __future__ import annotations

import pytest

from review_requests import agreement
from review_requests.agreement import (
    NOMINAL,
    ORDINAL,
    PREFERENCE_DOMAIN,
    alpha,
    alpha_over_units,
    criterion_alpha,
    expert_pair_alpha,
    observed_agreement,
    request_agreement,
)

N = None
# Krippendorff (2011), section C: four observers, twelve units, missing values.
PAPER_MATRIX = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]
# Krippendorff (2011), section A: two observers, binary data, ten units.
PAPER_BINARY = [
    [0, 1, 0, 0, 0, 0, 0, 0, 1, 0],
    [1, 1, 1, 0, 0, 1, 0, 0, 0, 0],
]


@pytest.mark.parametrize(
    ("matrix", "level", "expected"),
    [
        (PAPER_BINARY, NOMINAL, 0.095),  # the paper: alpha = 0.095
        (PAPER_MATRIX, NOMINAL, 0.743),  # the paper: nominal alpha = 0.743
        (PAPER_MATRIX, "interval", 0.849),  # the paper: interval alpha = 0.849
        (PAPER_MATRIX, ORDINAL, 0.815),  # the package's test of the same data
        # By hand, two reviewers, nominal: units (a,a) (a,b) (b,b): n = 6, o_ab = o_ba = 1,
        # D_o = 2/6; n_a = n_b = 3, D_e = 2*3*3/(6*5) = 0.6; alpha = 1 - (1/3)/0.6 = 0.4444.
        ([[0, 0, 1], [0, 1, 1]], NOMINAL, 0.444),
        # By hand, perfect disagreement on two units: D_o = 1, D_e = 2*2*2/(4*3) = 2/3 -> -0.5.
        ([[0, 1], [1, 0]], NOMINAL, -0.5),
    ],
)
def test_alpha_matches_worked_examples(matrix, level, expected):
    assert alpha(matrix, level=level) == pytest.approx(expected, abs=0.0006)


@pytest.mark.parametrize(
    ("matrix", "expected"),
    [
        ([], None),  # nobody
        ([[1]], None),  # one reviewer
        ([[1, N], [N, 2]], None),  # no unit with two values: nothing is pairable
        ([[3], [3]], 1.0),  # all the same: the 0/0 case is perfect agreement
        ([[3, 3], [3, 3], [N, 3]], 1.0),
        ([[2], [4]], 0.0),  # one unit that disagrees: at most 0
        ([[2], [4], [4]], 0.0),
    ],
)
def test_degenerate_cases(matrix, expected):
    assert alpha(matrix, level=ORDINAL) == expected


def test_ragged_data_is_refused():
    with pytest.raises(ValueError):
        alpha([[1, 2], [1]], level=NOMINAL)
    with pytest.raises(ValueError):
        alpha([[1]], level="cardinal")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["approved"], None),
        (["approved", "approved"], 1.0),
        (["approved", "rejected"], 0.0),
        (["approved", "approved", "rejected"], 0.3333),
        (["approved", "corrected", "rejected"], 0.0),
        (["approved"] * 4 + ["rejected"], 0.6),
        (["approved", None, "approved"], 1.0),
    ],
)
def test_observed_agreement_is_the_share_of_agreeing_pairs(values, expected):
    assert observed_agreement(values) == expected


def review(verdict, **scores):
    return {"verdict": verdict, "scores": scores}


RUBRIC = [{"key": "accuracy", "label": "Accuracy", "scale": 5}, {"key": "tone", "scale": 3}]


@pytest.mark.parametrize(
    ("reviews", "expected_agreement", "expected_detail"),
    [
        (
            [review("approved", accuracy=4)],
            None,
            {"verdict": None, "scores": {}, "criteria": {}},
        ),
        (
            [review("approved", accuracy=4, tone=2), review("approved", accuracy=4, tone=2)],
            1.0,
            {"verdict": 1.0, "scores": {"accuracy": 1.0, "tone": 1.0}, "criteria": {}},
        ),
        (
            [review("approved", accuracy=5), review("rejected", accuracy=1)],
            0.0,
            {"verdict": 0.0, "scores": {"accuracy": 0.0, "tone": None}, "criteria": {}},
        ),
        (
            [review("approved"), review("approved"), review("corrected", extra=3)],
            0.3333,
            {
                "verdict": 0.0,
                "scores": {"accuracy": None, "tone": None, "extra": None},
                "criteria": {},
            },
        ),
    ],
)
def test_request_agreement(reviews, expected_agreement, expected_detail):
    assert request_agreement(reviews, RUBRIC) == (expected_agreement, expected_detail)


def test_alpha_over_many_requests_builds_the_reviewer_by_request_matrix():
    # The paper's matrix as requests: each unit maps reviewer -> value.
    units = [
        {
            f"r{row}": PAPER_MATRIX[row][col]
            for row in range(4)
            if PAPER_MATRIX[row][col] is not None
        }
        for col in range(12)
    ]
    assert alpha_over_units(units, level=NOMINAL) == pytest.approx(0.743, abs=0.0006)


def test_expert_against_co_reviewers_counts_only_their_pairs():
    # (theirs, a co-reviewer's): by hand as the 3-unit nominal example above.
    assert expert_pair_alpha([(0, 0), (0, 1), (1, 1)], level=NOMINAL) == pytest.approx(0.4444)
    assert expert_pair_alpha([], level=NOMINAL) is None


@pytest.mark.parametrize(
    ("values", "domain", "expected"),
    [
        # Pairwise, one unit: both say "first much better" / "first better".
        ([[2], [2]], PREFERENCE_DOMAIN, 1.0),
        ([[2], [-2]], PREFERENCE_DOMAIN, 0.0),
        # Rank of three candidates by two reviewers (positions 1..3), identical rankings.
        ([[1, 2, 3], [1, 2, 3]], range(1, 4), 1.0),
        # Reversed rankings, by hand: n_1 = n_2 = n_3 = 2, o_13 = o_31 = 2, ordinal d_13 = 16,
        # d_12 = d_23 = 4: alpha = 1 - 5 * 64 / 192 = -0.6667.
        ([[1, 2, 3], [3, 2, 1]], range(1, 4), -0.6667),
    ],
)
def test_criterion_alpha_for_preferences(values, domain, expected):
    assert criterion_alpha(values=values, value_domain=domain) == pytest.approx(expected, abs=0.01)


def test_no_hand_rolled_agreement_is_left():
    from review_requests import results

    assert not hasattr(results, "pairwise_agreement")
    assert agreement.request_agreement is results.request_agreement
