"""The bodies of chain entries, built from the other apps' selectors (reads only). What each field
means, and which article of the EU AI Act it answers, is docs/contract/evidence.md."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from evidence.canonical import canonical_json, sha256_hex
from evidence.models import WatchSession
from experts.selectors import credentials_snapshot, expert_standing
from review_requests.evidence_selectors import (
    oversight_assignment_facts,
    oversight_dispute_facts,
    oversight_request_facts,
)

SCHEMA_VERSION = 1
TEXT_TYPES = {"text", "markdown", "code"}


def ai_output_digest(content: dict[str, Any]) -> dict[str, str]:
    """SHA-256 of the AI output: the UTF-8 bytes of a text body, or the canonical JSON of a
    json or chat body (so a company can recompute it from what it sent)."""
    body = content.get("body")
    if content.get("type") in TEXT_TYPES and isinstance(body, str):
        return {"sha256": sha256_hex(body.encode("utf-8")), "of": "body_utf8"}
    return {"sha256": sha256_hex(canonical_json(body)), "of": "body_canonical_json"}


def _watchers(review_request_id) -> list[dict[str, Any]]:
    """One line per person: role, first and last time they opened a workspace, how often."""
    people: dict[Any, dict[str, Any]] = {}
    for watch in WatchSession.objects.filter(review_request_id=review_request_id).select_related(
        "user"
    ):
        key = watch.user_id
        at = watch.joined_at.isoformat()
        if key not in people:
            user = watch.user
            people[key] = {
                "user_id": watch.user_id,
                "name": (user.get_full_name().strip() or user.email) if user else None,
                "role": watch.role,
                "first_at": at,
                "last_at": at,
                "sessions": 0,
                "assignments": [],
            }
        person = people[key]
        person["last_at"] = at
        person["sessions"] += 1
        if str(watch.assignment_id) not in person["assignments"]:
            person["assignments"].append(str(watch.assignment_id))
    return list(people.values())


def _standing(expert_id, specialization_id) -> dict[str, Any]:
    """Qualification and accuracy in the request's specialization at the time."""
    standing = expert_standing(expert=expert_id, specialization=specialization_id)
    qualified_at = standing["qualified_at"]
    return {**standing, "qualified_at": qualified_at.isoformat() if qualified_at else None}


def _reviewers(assignments: list[dict], specialization_id) -> list[dict[str, Any]]:
    credentials = credentials_snapshot(
        expert_ids=sorted({a["expert_id"] for a in assignments}, key=str)
    )
    return [
        {
            "assignment_id": a["assignment_id"],
            "expert_id": str(a["expert_id"]),
            "user_id": a["expert_user_id"],
            "name": a["expert_name"],
            "adjudicator": a["adjudicator"],
            "status": a["status"],
            "accepted_at": a["accepted_at"],
            "started_at": a["started_at"],
            "submitted_at": a["submitted_at"],
            "released_at": a["released_at"],
            "status_history": a["status_history"],
            "credentials": credentials.get(a["expert_id"], []),
            "standing": _standing(a["expert_id"], specialization_id),
        }
        for a in assignments
    ]


def _decisions(assignments: list[dict], request: dict | None = None) -> list[dict[str, Any]]:
    """Every stored workspace event of every assignment, in time order (seq within one), and
    the request's escalation to an adjudicator (`adjudication.requested`) when there was one."""
    rows = [
        {"assignment_id": a["assignment_id"], **event} for a in assignments for event in a["events"]
    ]
    if request is not None and request["adjudication_wanted_at"]:
        rows.append(
            {
                "assignment_id": "",
                "seq": 0,
                "kind": "adjudication.requested",
                "at": request["adjudication_wanted_at"],
                "actor": None,
                # Why: four-eyes (any verdict disagreement) or agreement under the threshold.
                "payload": {"four_eyes": request["four_eyes"]},
            }
        )
    return sorted(rows, key=lambda row: (row["at"], row["assignment_id"], row["seq"]))


def record_body(*, review_request, now: datetime) -> dict[str, Any]:
    request = oversight_request_facts(review_request=review_request)
    assignments = oversight_assignment_facts(review_request=review_request)
    return {
        "schema": "inloop.evidence.record",
        "schema_version": SCHEMA_VERSION,
        "recorded_at": now.isoformat(),
        "review_request": {
            key: request[key]
            for key in (
                "id",
                "title",
                "specialization",
                "content_type",
                "reviewers_wanted",
                "created_at",
                "completed_at",
                "status_history",
            )
        },
        "ai_output": {
            **ai_output_digest(request["content"]),
            "content_type": request["content_type"],
        },
        "model": request["model"],
        "prompt": request["prompt"],
        # The oversight policy (its rules as they stood) and the rule that routed the request.
        "routing": request["routing"],
        "four_eyes": request["four_eyes"],
        "blind": request["blind"],
        "shown_to_reviewers": {"guidelines": request["guidelines"], "rubric": request["rubric"]},
        "reviewers": _reviewers(assignments, request["specialization_id"]),
        "decisions": _decisions(assignments, request),
        "reviews": [
            {"assignment_id": a["assignment_id"], **a["review"]} for a in assignments if a["review"]
        ],
        "result": request["result"],
        "time": [{"assignment_id": a["assignment_id"], **a["time"]} for a in assignments],
        "watchers": _watchers(review_request.pk),
        "disputes": oversight_dispute_facts(review_request=review_request),
    }


def _work_since(review_request, known_assignments: set[str], *, reviewed_only: bool) -> dict:
    assignments = [
        a
        for a in oversight_assignment_facts(review_request=review_request)
        if a["assignment_id"] not in known_assignments and (a["review"] or not reviewed_only)
    ]
    return {
        "new_reviewers": _reviewers(assignments, review_request.specialization.slug),
        "new_decisions": _decisions(assignments),
        "new_reviews": [
            {"assignment_id": a["assignment_id"], **a["review"]} for a in assignments if a["review"]
        ],
        "new_time": [{"assignment_id": a["assignment_id"], **a["time"]} for a in assignments],
    }


def dispute_outcome_body(
    *, review_request, dispute: dict[str, Any], known_assignments: set[str], now: datetime
) -> dict[str, Any]:
    """A dispute decided after the record: its outcome, and the work done since."""
    return {
        "schema": "inloop.evidence.dispute_outcome",
        "schema_version": SCHEMA_VERSION,
        "recorded_at": now.isoformat(),
        "review_request_id": str(review_request.pk),
        "dispute": dispute,
        **_work_since(review_request, known_assignments, reviewed_only=False),
        "result": review_request.result,
        "watchers": _watchers(review_request.pk),
    }


def rework_body(*, review_request, known_assignments: set[str], now: datetime) -> dict | None:
    """The reviews submitted after a dispute's rework, or None when there are none new."""
    work = _work_since(review_request, known_assignments, reviewed_only=True)
    if not work["new_reviews"]:
        return None
    return {
        "schema": "inloop.evidence.rework_completed",
        "schema_version": SCHEMA_VERSION,
        "recorded_at": now.isoformat(),
        "review_request_id": str(review_request.pk),
        **work,
        "result": review_request.result,
        "watchers": _watchers(review_request.pk),
    }
