"""Reads behind the company pages: the filtered request list (also what exports stream), the
dashboard's figures, and the result laid out for reading (annotations in place)."""

from __future__ import annotations

import dataclasses
import itertools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from marketplace.rendering import markdown_to_safe_html_marked
from review_requests.models import Assignment, ReviewRequest
from review_requests.selectors import review_requests_for_org

STATUSES = [(value, label) for value, label in ReviewRequest.Status.choices]


def _metadata_matches(q: str) -> Q:
    """Substring match on the metadata's JSON text, on SQLite and PostgreSQL alike. SQLite keeps
    the text as Django wrote it (non-ASCII escaped as \\uXXXX); PostgreSQL's jsonb prints it
    back unescaped: search both spellings so "Zürich" is found on either."""
    condition = Q(metadata_text__icontains=q)
    escaped = json.dumps(q)[1:-1]
    if escaped != q:
        condition |= Q(metadata_text__icontains=escaped)
    return condition


def review_requests_filtered(
    *, organization, status: str = "", q: str = ""
) -> QuerySet[ReviewRequest]:
    """The company's requests, newest first, by status and by a search in title or metadata."""
    requests = review_requests_for_org(organization=organization)
    if status in ReviewRequest.Status.values:
        requests = requests.filter(status=status)
    q = q.strip()
    if q:
        requests = requests.annotate(metadata_text=Cast("metadata", TextField())).filter(
            Q(title__icontains=q) | _metadata_matches(q)
        )
    return requests.order_by("-created_at", "-id")


def oversight_sentence(review_request: ReviewRequest) -> str:
    """What the request's oversight policy decided, in words; "" when no policy applied. Reads
    `policy_version.policy` (selected with the request by review_requests_for_org, and set on a
    request just created)."""
    outcome = review_request.oversight_outcome
    version = review_request.policy_version
    if not outcome or version is None:
        return ""
    policy = f"policy {version.policy.name} v{version.number}"
    rule = review_request.policy_rule_name
    by = f"rule “{rule}” of {policy}" if rule else policy
    if outcome in ("auto_approve", "sample") and not review_request.audit:
        return f"Auto-approved by {by}: no reviewer, no charge."
    if review_request.audit:
        return f"Sampled for audit by {by}: a person reviews it, billed like any review."
    if not rule:
        return f"Sent to review: no rule of {policy} matched, so a person reviews it."
    return f"Sent to review by {by}."


@dataclass(frozen=True)
class CompanyOverview:
    counts: dict[str, int]
    total: int
    spend_this_month_cents: int
    waiting_for_funds: int
    latest_results: list[ReviewRequest]
    active: list[ReviewRequest]


def _month_start(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def company_overview(*, organization, now: datetime | None = None) -> CompanyOverview:
    now = now or timezone.now()
    rows = (
        ReviewRequest.objects.filter(organization=organization)
        .values("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = dict.fromkeys(ReviewRequest.Status.values, 0)
    for row in rows:
        counts[row["status"]] = row["n"]
    # Spend is what was captured (billed and charged) this month, by submission time.
    spend = (
        Assignment.objects.filter(
            review_request__organization=organization,
            submitted_at__gte=_month_start(now),
        ).aggregate(total=Sum("cost_cents"))["total"]
        or 0
    )
    waiting = ReviewRequest.objects.filter(
        organization=organization, status=ReviewRequest.Status.QUEUED, waiting_for_funds=True
    ).count()
    base = review_requests_for_org(organization=organization)
    latest_results = list(
        base.filter(status=ReviewRequest.Status.COMPLETED).order_by("-completed_at")[:5]
    )
    active = list(
        base.filter(
            status__in=(ReviewRequest.Status.QUEUED, ReviewRequest.Status.IN_REVIEW)
        ).order_by("-created_at")[:5]
    )
    return CompanyOverview(
        counts=counts,
        total=sum(counts.values()),
        spend_this_month_cents=int(spend),
        waiting_for_funds=waiting,
        latest_results=latest_results,
        active=active,
    )


# The result laid out for reading -------------------------------------------------------------

_SEVERITY_RANK = {"info": 0, "minor": 1, "major": 2, "critical": 3}


@dataclass(frozen=True)
class Segment:
    text: str
    severity: str = ""
    comments: tuple[str, ...] = ()
    number: int = 0


def annotated_segments(text: str, annotations: list[dict[str, Any]]) -> list[Segment]:
    """Split `text` at every annotation boundary; each piece carries the most severe annotation
    covering it (overlaps are allowed) and all covering comments. Offsets out of range are
    clamped, so a bad annotation can never raise or shift the text."""
    length = len(text)
    spans = []
    for index, annotation in enumerate(annotations or [], start=1):
        try:
            start = max(0, min(length, int(annotation.get("start", 0))))
            end = max(0, min(length, int(annotation.get("end", 0))))
        except (TypeError, ValueError):
            continue
        if end > start:
            spans.append((start, end, index, annotation))
    if not spans:
        return [Segment(text=text)] if text else []
    cuts = sorted({0, length, *(s for s, _, _, _ in spans), *(e for _, e, _, _ in spans)})
    segments = []
    for left, right in itertools.pairwise(cuts):
        covering = [span for span in spans if span[0] <= left and span[1] >= right]
        if not covering:
            segments.append(Segment(text=text[left:right]))
            continue
        top = max(covering, key=lambda span: _SEVERITY_RANK.get(str(span[3].get("severity")), 0))
        segments.append(
            Segment(
                text=text[left:right],
                severity=str(top[3].get("severity") or "info")
                if str(top[3].get("severity")) in _SEVERITY_RANK
                else "info",
                comments=tuple(str(span[3].get("comment") or "") for span in covering),
                number=top[2],
            )
        )
    return segments


def _clipped(segments: list[Segment], start: int, end: int) -> list[Segment]:
    """The pieces of `segments` (consecutive, from offset 0) that fall in [start, end)."""
    pieces, offset = [], 0
    for segment in segments:
        left, right = max(offset, start), min(offset + len(segment.text), end)
        if right > left:
            text = segment.text[left - offset : right - offset]
            pieces.append(dataclasses.replace(segment, text=text))
        offset += len(segment.text)
    return pieces


@dataclass(frozen=True)
class ChatTurn:
    role: str
    role_segments: list[Segment]
    segments: list[Segment]


@dataclass(frozen=True)
class OutputView:
    """The AI output as the result view shows it, annotations marked once: "markdown" (`html`,
    sanitized, marks in it), "chat" (`turns`), or "text" (`segments` of the plain text: text,
    code and JSON, and markdown whose marks could not be placed in its rendering)."""

    kind: str
    segments: list[Segment]
    html: str = ""
    turns: list[ChatTurn] = dataclasses.field(default_factory=list)


def _mark_attributes(segment: Segment) -> str:
    return format_html(
        ' class="sev-{}" title="{}" data-annotation="{}"',
        segment.severity,
        " · ".join(segment.comments),
        segment.number,
    )


def annotated_output(content: dict[str, Any] | None, annotations: list[dict[str, Any]]):
    """The AI output with its annotations (offsets into workspace_selectors.text_of(content)):
    markdown rendered as sanitized HTML and chat as its turns, each with the marks in place."""
    from review_requests.workspace_selectors import chat_turn_spans, text_of

    text = text_of(content)
    segments = annotated_segments(text, annotations)
    kind = (content or {}).get("type")
    if kind == "chat":
        turns = []
        for span in chat_turn_spans(content):
            role_end = span["start"] + len(span["role"])
            turns.append(
                ChatTurn(
                    role=span["role"],
                    role_segments=_clipped(segments, span["start"], role_end),
                    segments=_clipped(segments, role_end + 2, span["end"]),
                )
            )
        return OutputView(kind="chat", segments=segments, turns=turns)
    if kind == "markdown":
        spans, offset = [], 0
        for segment in segments:
            if segment.severity:
                spans.append((offset, offset + len(segment.text), _mark_attributes(segment)))
            offset += len(segment.text)
        html = markdown_to_safe_html_marked(text, spans)
        if html is not None:
            return OutputView(kind="markdown", segments=segments, html=mark_safe(html))  # noqa: S308 - sanitized by nh3, marks escaped by format_html
    return OutputView(kind="text", segments=segments)


def request_watchable_by(*, user, pk) -> bool:
    """Who may watch a request live: members of the owning organization, and operators with
    two-factor authentication (as for the console and the workspace)."""
    from marketplace.permissions import operator_has_mfa
    from marketplace.selectors import membership_for_user

    if user is None or not user.is_authenticated or user.suspended_at is not None:
        return False
    if user.is_operator:
        return operator_has_mfa(user) and ReviewRequest.objects.filter(pk=pk).exists()
    membership = membership_for_user(user=user)
    if membership is None:
        return False
    return ReviewRequest.objects.filter(pk=pk, organization_id=membership.organization_id).exists()


VERDICT_WORDS = {
    "approved": ("Approved", "The output is right as it is."),
    "corrected": ("Corrected", "The output needed changes; the corrected output is below."),
    "rejected": ("Rejected", "The output should not be used."),
}


def scores_in_rubric_order(scores: dict[str, Any], rubric: list[dict[str, Any]]) -> list[dict]:
    """[{"key", "label", "value", "scale"}] in the rubric's order; keys the rubric does not name
    come after it, sorted, labelled by their key."""
    scores = scores or {}
    rows = []
    for item in rubric or []:
        key = str(item.get("key"))
        if key in scores:
            rows.append(
                {
                    "key": key,
                    "label": item.get("label") or key,
                    "value": _score_shown(scores[key]),
                    "scale": item.get("scale"),
                }
            )
    named = {row["key"] for row in rows}
    for key in sorted(set(scores) - named):
        rows.append({"key": key, "label": key, "value": _score_shown(scores[key]), "scale": None})
    return rows


def _score_shown(value: Any) -> str:
    """4 -> "4", 4.5 -> "4.5", 3.6667 -> "3.67"."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{round(float(value), 2):g}"
    return str(value)


def result_sections(
    result: dict[str, Any], rubric: list[dict[str, Any]], names: dict[str, str]
) -> list[dict]:
    """The result as the sections the company reads: the consensus first (the only one with one
    reviewer), then one per reviewer when there are several, all in one shape. Each section's
    annotations are the numbers of the marks in the AI output (result["annotations"] order)."""
    if not result:
        return []
    annotations = result.get("annotations") or []
    reviews = result.get("reviews") or []

    def section(source, heading, assignment_id=None):
        label, meaning = VERDICT_WORDS.get(
            str(source.get("verdict")), (str(source.get("verdict") or "").capitalize(), "")
        )
        numbers = [
            index
            for index, annotation in enumerate(annotations, start=1)
            if assignment_id is None or str(annotation.get("assignment_id")) == assignment_id
        ]
        return {
            "heading": heading,
            "slug": f"review-{assignment_id}" if assignment_id else "consensus",
            "verdict": source.get("verdict"),
            "verdict_label": label,
            "verdict_meaning": meaning,
            "summary": source.get("summary") or "",
            "scores": scores_in_rubric_order(source.get("scores") or {}, rubric),
            "corrected_output": source.get("corrected_output") or "",
            "annotation_numbers": numbers,
        }

    if len(reviews) <= 1:
        return [section(result, "Result")]
    sections = [section(result, "Consensus")]
    for number, review in enumerate(reviews, start=1):
        assignment_id = str(review.get("assignment_id"))
        name = names.get(assignment_id) or f"Reviewer {number}"
        sections.append(section(review, f"Review by {name}", assignment_id))
    return sections


# A comparison's result laid out for reading ----------------------------------------------------


def _choice_text(mode: str, choice: dict[str, Any] | None) -> str:
    """One reviewer's choice on one criterion, as a person reads it (candidate ids as the
    company named them)."""
    if not choice:
        return "—"
    if mode == "pairwise":
        strength = choice.get("strength")
        if strength == 0:
            return "Tie"
        return f"{choice.get('winner')} {'much better' if strength == 2 else 'better'}"
    return " > ".join(choice.get("ranking") or []) or "—"


def comparison_page(
    *,
    content: dict[str, Any],
    rubric: list[dict[str, Any]],
    result: dict[str, Any] | None,
    names: dict[str, str],
) -> dict[str, Any] | None:
    """What the company's request page shows of a comparison: the candidates in the company's
    order (with their models), and once completed the consensus, a table per criterion and each
    review's choices with its rationale, the order it was shown and its rewrite."""
    from review_requests import comparison as comparisons

    if not comparisons.is_comparison(content):
        return None
    mode = content.get("mode", "pairwise")
    compared = (result or {}).get("comparison") or {}
    annotations = (result or {}).get("annotations") or []
    candidates = [
        {
            **candidate,
            "annotations": [a for a in annotations if a.get("candidate") == candidate["id"]],
        }
        for candidate in content.get("candidates") or []
    ]
    criteria = comparisons.criteria_of(rubric)
    reviews = [
        {
            "name": names.get(str(review.get("assignment_id")), "Reviewer"),
            "order_shown": review.get("order_shown") or [],
            "rewrite": review.get("rewrite"),
            "rows": [
                {
                    "label": c["label"],
                    "choice": _choice_text(mode, (review.get("criteria") or {}).get(c["key"])),
                    "rationale": ((review.get("criteria") or {}).get(c["key"]) or {}).get(
                        "rationale"
                    )
                    or "",
                }
                for c in criteria
            ],
        }
        for review in compared.get("reviews") or []
    ]
    ids = [str(c["id"]) for c in candidates]
    table = []
    for c in criteria:
        outcome = (compared.get("criteria") or {}).get(c["key"]) or {}
        table.append(
            {
                "label": c["label"],
                "ranking": outcome.get("ranking") or [],
                "scores": [(outcome.get("scores") or {}).get(cid) for cid in ids],
                "tie": outcome.get("tie"),
                "agreement": outcome.get("agreement"),
            }
        )
    return {
        "mode": mode,
        "candidates": candidates,
        "ids": ids,
        "consensus": compared.get("consensus"),
        "criteria": table,
        "reviews": reviews,
    }


# Independent reviews: agreement and adjudication on the result page ---------------------------


def _alpha_shown(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{float(value):.2f}"


def _alpha_meaning(value: Any) -> str:
    if value is None:
        return "not enough reviews to compare"
    if value >= 1:
        return "all reviewers gave the same answer"
    if value <= 0:
        return "the reviewers disagree"
    return "partial agreement"


def agreement_rows(result: dict[str, Any] | None, rubric: list[dict[str, Any]]) -> list[dict]:
    """Krippendorff's alpha per criterion of a result with several reviews, as the page lists
    it: the verdict, each rubric score (rubric order, labelled) and each comparison criterion.
    Empty for one reviewer."""
    if not result or len(result.get("reviews") or []) < 2:
        return []
    detail = result.get("agreement_detail") or {}
    labels = {str(item.get("key")): item.get("label") or item.get("key") for item in rubric or []}
    rows = [{"key": "verdict", "label": "Verdict", "alpha": detail.get("verdict")}]
    scores = detail.get("scores") or {}
    for key in [k for k in labels if k in scores] + sorted(set(scores) - set(labels)):
        rows.append({"key": f"scores.{key}", "label": labels.get(key, key), "alpha": scores[key]})
    criteria = dict(detail.get("criteria") or {})
    for key, item in ((result.get("comparison") or {}).get("criteria") or {}).items():
        if isinstance(item, dict) and criteria.get(key) is None:
            criteria[key] = item.get("agreement")
    for key, value in criteria.items():
        rows.append(
            {
                "key": f"criteria.{key}",
                "label": f"Preference: {labels.get(key, key)}",
                "alpha": value,
            }
        )
    for row in rows:
        row["shown"] = _alpha_shown(row["alpha"])
        row["meaning"] = _alpha_meaning(row["alpha"])
    return rows


def adjudication_view(result: dict[str, Any] | None, names: dict[str, str]) -> dict | None:
    """The adjudicator's decision as the page shows it, or None."""
    adjudication = (result or {}).get("adjudication")
    if not adjudication:
        return None
    label, _meaning = VERDICT_WORDS.get(
        str(adjudication.get("verdict")), (str(adjudication.get("verdict") or ""), "")
    )
    return {
        "name": names.get(str(adjudication.get("assignment_id"))) or "The adjudicator",
        "verdict": adjudication.get("verdict"),
        "verdict_label": label,
        "summary": adjudication.get("summary") or "",
        "four_eyes": (result or {}).get("four_eyes"),
    }
