"""The PDF export, drawn by ReportLab from the JSON export itself (so both say the same thing),
ending with the appendix that maps its fields to the EU AI Act."""

from __future__ import annotations

import io
import json
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

STYLES = getSampleStyleSheet()
BODY = STYLES["BodyText"]
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8, leading=10)
MONO = ParagraphStyle("mono", parent=SMALL, fontName="Courier")
H1, H2, H3 = STYLES["Title"], STYLES["Heading2"], STYLES["Heading3"]
MARGIN = 15 * mm
TEXT_WIDTH = A4[0] - 2 * MARGIN
PAYLOAD_CHARS = 300
TEXT_CHARS = 3000

# (article, what it asks, where this document answers it)
APPENDIX: list[tuple[str, str, str]] = [
    (
        "Art. 12",
        "Automatic recording of events (logs); for remote biometric identification: the period "
        "of each use, the input data checked and who verified the results",
        "Chain (position, time, hashes); AI output SHA-256; Decisions and changes (time, actor); "
        "Reviewers (identity of each natural person who verified the output)",
    ),
    (
        "Art. 14(4)",
        "The people overseeing can understand the output, interpret it, decide not to use it, "
        "override or reverse it",
        "Shown to reviewers (guidelines, rubric); Decisions and changes (annotations, drafts, "
        "verdict); Reviews (verdict, corrected output: the override); Disputes",
    ),
    (
        "Art. 14(5)",
        "For remote biometric identification, no action on the output unless verified and "
        "confirmed by at least two natural persons with the necessary competence",
        "Reviewers (how many, each with credentials and standing); Reviews (each verdict); "
        "Result (consensus of the reviewers wanted)",
    ),
    (
        "Art. 19",
        "Providers keep the automatically generated logs for at least six months",
        "Chain (append-only, per organization, with daily anchors); retention of at least "
        "183 days (EVIDENCE_RETENTION_DAYS), prunings recorded as chain entries",
    ),
    (
        "Art. 26(2)",
        "Deployers assign human oversight to people with the necessary competence, training "
        "and authority",
        "Reviewers: verified credentials at the time (type, issuer, number, jurisdiction, "
        "expiry, who verified and when), qualification and accuracy (standing)",
    ),
    (
        "Art. 26(6)",
        "Deployers keep the logs under their control for at least six months",
        "This export (JSON and PDF) with its hashes, recomputable by the hash rule; retention "
        "and prunings as for Art. 19",
    ),
]


def _p(text: Any, style=BODY) -> Paragraph:
    return Paragraph(escape("" if text is None else str(text)).replace("\n", "<br/>"), style)


def _short(value: Any, limit: int = PAYLOAD_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _widths(columns: int, widths: list[float | None] | None) -> list[float]:
    """Explicit widths over the page's text width: a None column takes what the others leave."""
    if widths is None:
        return [TEXT_WIDTH / columns] * columns
    fixed = sum(w for w in widths if w is not None)
    free = [w for w in widths if w is None]
    rest = (TEXT_WIDTH - fixed) / len(free) if free else 0
    return [rest if w is None else w for w in widths]


def _table(rows: list[list[Any]], widths: list[float | None] | None = None) -> Table:
    cells = [[_p(cell, SMALL) for cell in row] for row in rows]
    table = Table(cells, colWidths=_widths(len(rows[0]), widths), repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef1f5")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _person(person: dict | None) -> str:
    if not person:
        return "system"
    return f"{person.get('name')} (user {person.get('user_id')})"


def _chain(entry: dict) -> list:
    return [
        _p(
            f"Chain entry #{entry['position']} · {entry['kind']} · {entry['created_at']}",
            H3,
        ),
        _p(f"previous hash {entry['previous_hash']}", MONO),
        _p(f"entry hash    {entry['entry_hash']}", MONO),
    ]


def _reviewers(reviewers: list[dict]) -> list:
    flow: list = []
    for reviewer in reviewers:
        flow.append(
            _p(
                f"{reviewer['name']} (expert {reviewer['expert_id']}, user {reviewer['user_id']})"
                f"{' · adjudicator' if reviewer.get('adjudicator') else ''}"
                f" · assignment {reviewer['assignment_id']} · {reviewer['status']} · accepted "
                f"{reviewer['accepted_at']} · submitted {reviewer['submitted_at']}",
                SMALL,
            )
        )
        rows = [
            ["Type", "Issuer", "Number", "Jurisdiction", "Expires", "Verified by", "Verified at"]
        ]
        rows += [
            [
                c["type"],
                c["issuer"],
                c["number"],
                c["jurisdiction"],
                c["expires_on"] or "none",
                _person(c["verified_by"]),
                c["verified_at"],
            ]
            for c in reviewer["credentials"]
        ]
        if len(rows) > 1:
            flow.append(_table(rows))
        else:
            flow.append(_p("No verified credential at the time.", SMALL))
        standing = reviewer.get("standing")
        flow.append(
            _p(
                "Standing: " + (_short(standing) if standing is not None else "not recorded"),
                SMALL,
            )
        )
        flow.append(Spacer(1, 2 * mm))
    return flow


def _decisions(decisions: list[dict]) -> list:
    rows = [["At", "Assignment", "#", "Kind", "Actor", "Change"]]
    rows += [
        [
            d["at"],
            d["assignment_id"][:8],
            d["seq"],
            d["kind"],
            _person(d["actor"]),
            _short(d["payload"]),
        ]
        for d in decisions
    ]
    return [_table(rows, [32 * mm, 18 * mm, 8 * mm, 24 * mm, 30 * mm, None])]


def _record(body: dict) -> list:
    request = body["review_request"]
    output = body["ai_output"]
    flow = [
        _p(f"Request “{request['title']}” ({request['id']})", H2),
        _p(
            f"Specialization {request['specialization']} · reviewers wanted "
            f"{request['reviewers_wanted']} · created {request['created_at']} · completed "
            f"{request['completed_at']} · recorded {body['recorded_at']}",
            SMALL,
        ),
        _p("AI output", H3),
        _p(f"SHA-256 ({output['of']}, {output['content_type']}): {output['sha256']}", MONO),
        _p(f"Model: {body['model'] or 'not supplied'}", SMALL),
        _p(f"Prompt: {_short(body['prompt'] or 'not supplied', TEXT_CHARS)}", SMALL),
        _p(
            "Routing (oversight policy and rule): "
            + (_short(body["routing"]) if body["routing"] is not None else "not recorded"),
            SMALL,
        ),
        _p("Shown to reviewers", H3),
        _p(
            f"Guidelines: {_short(body['shown_to_reviewers']['guidelines'] or 'none', TEXT_CHARS)}",
            SMALL,
        ),
        _p(f"Rubric: {_short(body['shown_to_reviewers']['rubric'])}", SMALL),
        _p("Reviewers", H3),
        *_reviewers(body["reviewers"]),
        _p("Decisions and changes", H3),
        *_decisions(body["decisions"]),
        _p("Reviews", H3),
    ]
    for review in body["reviews"]:
        flow.append(
            _p(
                f"{review['assignment_id'][:8]}: {review['verdict']} · scores "
                f"{_short(review['scores'])} · {review['summary']}"
                + (
                    f" · corrected output: {_short(review['corrected_output'], TEXT_CHARS)}"
                    if review.get("corrected_output")
                    else ""
                ),
                SMALL,
            )
        )
    flow.append(_p(f"Result: {_short(body['result'], TEXT_CHARS)}", SMALL))
    return flow + _record_rest(body)


def _record_rest(body: dict) -> list:
    time_rows = [["Assignment", "Start", "End", "Seconds"]]
    for item in body["time"]:
        time_rows += [
            [item["assignment_id"][:8], s["start"], s["end"], s["seconds"]]
            for s in item["segments"]
        ]
        time_rows.append([item["assignment_id"][:8], "billed", "", item["billed_seconds"]])
    watch_rows = [["Who", "Role", "First", "Last", "Sessions"]]
    watch_rows += [
        [
            f"{w['name']} (user {w['user_id']})",
            w["role"],
            w["first_at"],
            w["last_at"],
            w["sessions"],
        ]
        for w in body["watchers"]
    ]
    flow = [
        _p("Time (server-measured)", H3),
        _table(time_rows),
        _p("Who watched", H3),
        _table(watch_rows) if len(watch_rows) > 1 else _p("Nobody watched live.", SMALL),
        _p("Disputes", H3),
    ]
    flow += _disputes(body["disputes"]) or [_p("None at the time of the record.", SMALL)]
    return flow


def _disputes(disputes: list[dict]) -> list:
    return [
        _p(
            f"{d['dispute_id']} opened {d['opened_at']} by {_person(d['opened_by'])}: "
            f"{d['category']}, asks {d['requested_remedy']} · status {d['status']} · outcome "
            f"{d['outcome'] or 'pending'} ({d['outcome_amount_cents']} cents) · decided by "
            f"{_person(d['decided_by'])} · {d['decision_note']}",
            SMALL,
        )
        for d in disputes
    ]


def _entry(entry: dict) -> list:
    body = entry["body"]
    flow = _chain(entry)
    if entry["kind"] == "record":
        flow += _record(body)
    elif entry["kind"] in ("dispute_outcome", "rework_completed"):
        if entry["kind"] == "dispute_outcome":
            flow += [_p("Dispute outcome", H3), *_disputes([body["dispute"]])]
        if body["new_reviewers"]:
            flow += [_p("Work since the record", H3), *_reviewers(body["new_reviewers"])]
            flow += _decisions(body["new_decisions"])
    else:
        flow.append(
            _p(
                f"Pruned past retention ({body['retention_days']} days, cutoff {body['cutoff']}):"
                f" entries #{body['from_position']}-#{body['through_position']}, "
                f"{body['deleted_count']} deleted; last hash {body['last_hash']}",
                SMALL,
            )
        )
    return [*flow, Spacer(1, 4 * mm)]


def evidence_pdf(export: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title="Inloop oversight evidence",
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
    )
    head = export["chain_head"]
    anchor = export["latest_anchor"]
    flow: list = [
        _p("Oversight evidence", H1),
        _p(
            f"{export['organization']['name']} · {export['schema_name']} v{export['schema_version']}"
            f" · exported {export['exported_at']}",
            SMALL,
        ),
        _p(f"Chain head #{head['position']} {head['hash']}", MONO),
        _p(
            f"Latest daily anchor {anchor['day']} {anchor['anchor_hash']}"
            if anchor
            else "No daily anchor yet.",
            MONO,
        ),
        _p(f"Hash rule: {export['hash_rule']}.", SMALL),
        Spacer(1, 4 * mm),
    ]
    for entry in export["entries"]:
        flow += _entry(entry)
    flow += [
        _p("Appendix: fields and the EU AI Act", H2),
        _table(
            [["Article", "What it asks", "Where this record answers it"], *APPENDIX],
            [22 * mm, 70 * mm, None],
        ),
    ]
    document.build(flow)
    return buffer.getvalue()
