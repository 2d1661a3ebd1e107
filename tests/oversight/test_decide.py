"""oversight.decide: the first matching rule decides (table-driven cases), and Hypothesis checks
it against a plain reference evaluation written here, the sample shares against their rates, and
that a key always gets the same decision."""

from __future__ import annotations

import hashlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from oversight.decide import Item, decide, specialization_path, uniform
from oversight.rules import Rule, rules_dump, rules_parse


def item(confidence=None, slug="medicine.radiology", model="acme-7b", **metadata) -> Item:
    return Item(
        confidence=confidence,
        specialization_path=specialization_path(slug),
        model=model,
        metadata=metadata,
    )


POLICY = rules_parse(
    [
        {"name": "legal always", "when": {"specialization": "law"}, "outcome": "review"},
        {
            "name": "doubtful",
            "when": {"confidence_lt": 0.6},
            "outcome": "review",
            "review": {"reviewers": 2},
        },
        {
            "name": "vip",
            "when": {"metadata": [{"field": "tier", "op": "in", "value": ["vip"]}]},
            "outcome": "review",
        },
        {
            "name": "big claims",
            "when": {"metadata": [{"field": "amount", "op": "gt", "value": 1000}]},
            "outcome": "sample",
            "audit_rate": 1.0,
        },
        {"name": "old model", "when": {"model": "acme-1b"}, "outcome": "review"},
        {"name": "confident", "when": {"confidence_gte": 0.92}, "outcome": "auto_approve"},
        {"name": "middle", "when": {"confidence_gte": 0.6}, "outcome": "sample", "audit_rate": 0},
    ]
)


@pytest.mark.parametrize(
    ("the_item", "rule_name", "outcome", "audit"),
    [
        (item(0.99, slug="law.contracts"), "legal always", "review", False),
        (item(0.99, slug="law"), "legal always", "review", False),
        (item(0.99, slug="lawyers.x"), "confident", "auto_approve", False),  # not a descendant
        (item(0.3), "doubtful", "review", False),
        (item(0.99, tier="vip"), "vip", "review", False),
        (item(0.99, tier="VIP"), "confident", "auto_approve", False),
        (item(0.95, amount=5000), "big claims", "sample", True),
        (item(0.95, amount=1000), "confident", "auto_approve", False),  # gt is strict
        (item(0.95, amount="5000"), "confident", "auto_approve", False),  # a string is no number
        (item(0.95, amount=True), "confident", "auto_approve", False),  # nor is a boolean
        (item(0.95, model="acme-1b"), "old model", "review", False),
        (item(0.92), "confident", "auto_approve", False),  # gte is inclusive
        (item(0.7), "middle", "sample", False),
        (item(None), "", "review", False),  # no confidence: no confidence rule, no rule at all
    ],
)
def test_the_first_matching_rule_decides(the_item, rule_name, outcome, audit):
    decision = decide(rules=POLICY, item=the_item, key="k")
    assert (decision.rule_name, decision.outcome, decision.audit) == (rule_name, outcome, audit)
    if rule_name:
        assert POLICY[decision.rule_index].name == rule_name
    else:
        assert decision.rule_index is None and decision.review is None


def test_a_rule_carries_its_review_parameters():
    decision = decide(rules=POLICY, item=item(0.1), key="k")
    assert decision.review is not None and decision.review.reviewers == 2
    assert decision.reviewed


@pytest.mark.parametrize(
    ("condition", "metadata", "holds"),
    [
        ({"op": "eq", "value": 1}, {"f": 1.0}, True),
        ({"op": "eq", "value": 1}, {"f": True}, False),
        ({"op": "eq", "value": {"a": [1, "x"]}}, {"f": {"a": [1, "x"]}}, True),
        ({"op": "eq", "value": None}, {"f": None}, True),
        ({"op": "eq", "value": None}, {}, False),
        ({"op": "exists"}, {"f": None}, True),
        ({"op": "exists"}, {"g": 1}, False),
        ({"op": "in", "value": [1, 2]}, {"f": 2}, True),
        ({"op": "in", "value": []}, {"f": 2}, False),
        ({"op": "lt", "value": 3}, {"f": 2.5}, True),
        ({"op": "lt", "value": 3}, {"f": 3}, False),
        ({"op": "gt", "value": -1}, {"f": 0}, True),
    ],
)
def test_metadata_conditions(condition, metadata, holds):
    rules = rules_parse(
        [{"name": "m", "when": {"metadata": [{"field": "f", **condition}]}, "outcome": "sample"}]
    )
    decision = decide(rules=rules, item=item(**metadata), key="k")
    assert (decision.rule_name == "m") is holds


def test_uniform_is_the_specified_hash():
    digest = hashlib.sha256(b"abc:audit").digest()
    assert uniform("abc", "audit") == int.from_bytes(digest[:8], "big") / 2**64
    assert 0 <= uniform("", "") < 1


def test_specialization_path_names_the_ancestors():
    assert specialization_path("a.b.c") == ("a.b.c", "a.b", "a")
    assert specialization_path("a") == ("a",)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([], "at least 1"),
        ([{"name": "a", "outcome": "review"}] * 2, "appears twice"),
        ([{"name": "a", "outcome": "review", "audit_rate": 0.5}], "only to outcome 'sample'"),
        ([{"name": "a", "outcome": "auto_approve", "review": {"reviewers": 2}}], "sends nothing"),
        ([{"name": "a", "outcome": "maybe"}], "outcome"),
        ([{"name": "a", "outcome": "review", "when": {"confidence_lte": 0.5}}], "confidence_lte"),
        ([{"name": "a", "outcome": "review", "when": {"confidence_lt": 1.5}}], "less than"),
        ([{"name": "a", "outcome": "review", "when": {"sample": -0.1}}], "greater than"),
        (
            [
                {
                    "name": "a",
                    "outcome": "review",
                    "when": {"metadata": [{"field": "x", "op": "in", "value": 3}]},
                }
            ],
            "needs a list",
        ),
        (
            [
                {
                    "name": "a",
                    "outcome": "review",
                    "when": {"metadata": [{"field": "x", "op": "lt", "value": "3"}]},
                }
            ],
            "finite number",
        ),
        ([{"name": "a", "outcome": "review", "review": {"reviewers": 9}}], "less than"),
        ([{"name": " ", "outcome": "review"}], "blank"),
        ([{"name": f"r{i}", "outcome": "review"} for i in range(51)], "at most 50"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_message(rules, message):
    with pytest.raises(ValidationError) as caught:
        rules_parse(rules)
    assert message in str(caught.value)


def test_rules_round_trip_through_their_stored_json():
    assert rules_parse(rules_dump(POLICY)) == POLICY


# Hypothesis -------------------------------------------------------------------------------

SLUGS = ["medicine", "medicine.radiology", "medicine.cardiology", "law", "law.tax"]
MODELS = ["m1", "m2", "m3"]
KEYS = ["tier", "amount", "flag"]
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["a", "b", "vip"])
)
shares = st.floats(min_value=0, max_value=1, allow_nan=False)


@st.composite
def meta_conditions(draw):
    op = draw(st.sampled_from(["eq", "in", "exists", "lt", "gt"]))
    field = draw(st.sampled_from(KEYS))
    if op == "exists":
        return {"field": field, "op": op}
    if op == "in":
        return {"field": field, "op": op, "value": draw(st.lists(json_scalars, max_size=3))}
    if op in ("lt", "gt"):
        return {"field": field, "op": op, "value": draw(st.integers(-5, 5))}
    return {"field": field, "op": op, "value": draw(json_scalars)}


@st.composite
def rule_dicts(draw, index):
    when = {}
    if draw(st.booleans()):
        when["confidence_lt"] = draw(shares)
    if draw(st.booleans()):
        when["confidence_gte"] = draw(shares)
    if draw(st.booleans()):
        when["specialization"] = draw(st.sampled_from(SLUGS))
    if draw(st.booleans()):
        when["model"] = draw(st.sampled_from(MODELS))
    when["metadata"] = draw(st.lists(meta_conditions(), max_size=2))
    if draw(st.booleans()):
        when["sample"] = draw(shares)
    outcome = draw(st.sampled_from(["review", "sample", "auto_approve"]))
    rule = {"name": f"rule {index}", "when": when, "outcome": outcome}
    if outcome == "sample":
        rule["audit_rate"] = draw(shares)
    return rule


@st.composite
def policies(draw):
    count = draw(st.integers(1, 8))
    return rules_parse([draw(rule_dicts(index)) for index in range(count)])


@st.composite
def items(draw):
    return Item(
        confidence=draw(st.none() | shares),
        specialization_path=specialization_path(draw(st.sampled_from(SLUGS))),
        model=draw(st.sampled_from(MODELS)),
        metadata=draw(st.dictionaries(st.sampled_from(KEYS), json_scalars, max_size=3)),
    )


def reference_share(key: str, salt: str) -> float:
    return int.from_bytes(hashlib.sha256(f"{key}:{salt}".encode()).digest()[:8], "big") / 2**64


def reference_value_equal(a, b) -> bool:
    # The scalars drawn above: booleans are never numbers.
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    return a == b


def reference_condition(condition, metadata) -> bool:
    if condition.field not in metadata:
        return False
    value = metadata[condition.field]
    number = isinstance(value, int) and type(value) is not bool
    if condition.op == "exists":
        return True
    if condition.op == "eq":
        return reference_value_equal(value, condition.value)
    if condition.op == "in":
        return any(reference_value_equal(value, v) for v in condition.value)
    if condition.op == "lt":
        return number and value < condition.value
    return number and value > condition.value


def reference_decide(rules: list[Rule], the_item: Item, key: str):
    """Rules in order, each condition spelled out, no shortcuts."""
    for index, rule in enumerate(rules):
        w = rule.when
        c = the_item.confidence
        checks = [
            w.confidence_lt is None or (c is not None and c < w.confidence_lt),
            w.confidence_gte is None or (c is not None and c >= w.confidence_gte),
            w.specialization is None
            or any(
                slug == w.specialization or slug.startswith(w.specialization + ".")
                for slug in the_item.specialization_path[:1]
            ),
            w.model is None or w.model == the_item.model,
            all(reference_condition(m, the_item.metadata) for m in w.metadata),
            w.sample is None or reference_share(key, f"match:{index}") < w.sample,
        ]
        if all(checks):
            audit = rule.outcome == "sample" and reference_share(key, "audit") < rule.audit_rate
            return index, rule.name, rule.outcome, audit
    return None, "", "review", False


@settings(max_examples=400, deadline=None)
@given(rules=policies(), the_item=items(), key=st.text(max_size=20))
def test_decide_equals_the_reference_evaluation(rules, the_item, key):
    decision = decide(rules=rules, item=the_item, key=key)
    got = (decision.rule_index, decision.rule_name, decision.outcome, decision.audit)
    assert got == reference_decide(rules, the_item, key)
    assert decision.review == (rules[decision.rule_index].review if got[0] is not None else None)


@settings(max_examples=100, deadline=None)
@given(rules=policies(), the_item=items(), key=st.text(max_size=40))
def test_the_same_key_never_changes_the_outcome(rules, the_item, key):
    first = decide(rules=rules, item=the_item, key=key)
    # Parsed again from storage, as a replay or a later reader would.
    again = decide(rules=rules_parse(rules_dump(rules)), item=the_item, key=key)
    assert again == first


KEYS_PER_RUN = 4000


def within_four_standard_errors(hits: int, rate: float) -> bool:
    """|hits - n p| within 4 binomial standard errors (plus one for the count's discreteness,
    which matters for rates of a few in ten thousand)."""
    error = math.sqrt(KEYS_PER_RUN * rate * (1 - rate))
    return abs(hits - KEYS_PER_RUN * rate) <= 4 * error + 1


# Derandomized: the rates drawn and the keys are fixed, so the bound cannot flake.
@settings(max_examples=15, deadline=None, derandomize=True)
@given(rate=shares, audit_rate=shares, prefix=st.text(max_size=8))
def test_sampled_shares_converge_to_their_rates(rate, audit_rate, prefix):
    rules = rules_parse(
        [
            {
                "name": "some",
                "when": {"sample": rate},
                "outcome": "sample",
                "audit_rate": audit_rate,
            },
            {"name": "rest", "outcome": "auto_approve"},
        ]
    )
    decisions = [
        decide(rules=rules, item=item(0.5), key=f"{prefix}:{n}") for n in range(KEYS_PER_RUN)
    ]
    sampled = sum(d.rule_name == "some" for d in decisions)
    assert within_four_standard_errors(sampled, rate)
    # The audit draw is independent of the match draw: among the matched, its own rate.
    audited = sum(d.audit for d in decisions)
    assert within_four_standard_errors(audited, rate * audit_rate)
    assert all(d.audit <= (d.rule_name == "some") for d in decisions)
