"""The three oversight modes as starting policies (the README shows the same three as JSON):

- human in the loop: every decision is reviewed by a person before it counts;
- human on the loop: the system acts, people watch a sample and step in;
- human in command: people set the rules the system runs under, case by case.

A new policy starts as a copy of one of them, then it is the company's to change."""

from __future__ import annotations

from typing import Any

STARTERS: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "in_the_loop": (
        "Human in the loop: review every item",
        [{"name": "review-everything", "when": {}, "outcome": "review"}],
    ),
    "on_the_loop": (
        "Human on the loop: auto-approve confident items, audit 10%",
        [
            {
                "name": "confident",
                "when": {"confidence_gte": 0.9},
                "outcome": "sample",
                "audit_rate": 0.1,
            },
            {"name": "the-rest", "when": {}, "outcome": "review"},
        ],
    ),
    "in_command": (
        "Human in command: rules by risk and field",
        [
            {
                "name": "medicine-always",
                "when": {"specialization": "medicine"},
                "outcome": "review",
                "review": {"reviewers": 2},
            },
            {
                "name": "very-confident",
                "when": {"confidence_gte": 0.97},
                "outcome": "auto_approve",
            },
            {
                "name": "confident",
                "when": {"confidence_gte": 0.85},
                "outcome": "sample",
                "audit_rate": 0.2,
            },
            {"name": "doubtful", "when": {}, "outcome": "review"},
        ],
    ),
}


def starter_choices() -> list[tuple[str, str]]:
    return [(key, label) for key, (label, _) in STARTERS.items()]


def starter_rules(key: str) -> list[dict[str, Any]]:
    return [dict(rule) for rule in STARTERS[key][1]]
