"""Every dispute phase (review_requests.dispute_selectors.PHASES) rendered on the company's page,
the expert's page and the operator's case page: each says what is true in that phase, and a
decided case never tells anyone that pay is on hold or that an answer is due."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from review_requests import dispute_services
from review_requests.dispute_selectors import PHASES, dispute_phase
from review_requests.models import Dispute
from tests.conftest import give_operator_mfa, login_client
from tests.console.dispute_support import open_dispute, submitted_assignment

pytestmark = pytest.mark.django_db

# What no decided case may say, to either party.
STALE = ("on hold", "answer due", "is due", "Answer the dispute", "Send statement", "Add to case")


@dataclass(frozen=True)
class Case:
    phase: str
    expert_says: tuple[str, ...]
    company_says: tuple[str, ...]
    expert_never: tuple[str, ...] = ()
    company_never: tuple[str, ...] = ()


CASES = [
    Case(
        "awaiting_answer",
        expert_says=(
            "Your pay for it is on hold until an operator decides",
            "Answer the dispute",
            "Expert's answer due",
            "Your pay for this review, on hold",
        ),
        company_says=("The expert's pay for it is on hold; their answer is due", "Add to case"),
        expert_never=("What you were paid", "Nothing more is needed"),
        company_never=("Decided",),
    ),
    Case(
        "answer_overdue",
        expert_says=("The time to answer has passed", "Time to answer is over"),
        company_says=("The expert did not answer in time", "Add to case"),
        expert_never=("Answer the dispute", "Send statement", "answer due"),
        company_never=("answer due", "is due"),
    ),
    Case(
        "ready_answered",
        expert_says=("You answered", "nothing more is needed from you", "I checked every"),
        company_says=("The expert answered", "an operator decides next", "Add to case"),
        expert_never=("Answer the dispute", "answer due", "time to answer has passed"),
        company_never=("answer due", "is due", "did not answer"),
    ),
    Case(
        "ready_unanswered",
        expert_says=("The time to answer has passed", "Ready for a decision"),
        company_says=("The expert did not answer in time",),
        expert_never=("Answer the dispute", "answer due", "You answered"),
        company_never=("answer due", "is due"),
    ),
    Case(
        "awaiting_approval",
        expert_says=("a second operator approves it next", "stays on hold"),
        company_says=("a second operator approves it before any money moves",),
        expert_never=("Answer the dispute", "answer due", "Resolved"),
        company_never=("answer due", "Add to case", "Decided"),
    ),
    Case(
        "resolved_release",
        expert_says=(
            "Resolved in your favour",
            "your pay for this review was released to you",
            "What you were paid for this review",
            "Nothing more is needed from you",
        ),
        company_says=("the review stands and the expert is paid as billed", "nothing is refunded"),
        expert_never=(*STALE, "not paid"),
        company_never=(*STALE, "refunded to your balance"),
    ),
    Case(
        "resolved_partial_refund",
        expert_says=("the company was refunded $10.00", "the rest of your pay"),
        company_says=("$10.00 of what you paid for this review was refunded to your balance",),
        expert_never=(*STALE, "not paid"),
        company_never=STALE,
    ),
    Case(
        "resolved_full_refund",
        expert_says=("refunded in full, so this review is not paid",),
        company_says=("everything you paid for this review ($36.00) was refunded",),
        expert_never=(*STALE, "released to you"),
        company_never=STALE,
    ),
    Case(
        "resolved_rework_refund",
        expert_says=("another expert reworks the request, so this review is not paid",),
        company_says=("($36.00) was refunded to your balance", "offered to other experts"),
        expert_never=(*STALE, "released to you"),
        company_never=(*STALE, "paid by Inloop"),
    ),
    Case(
        "resolved_rework_platform",
        expert_says=("at Inloop's cost", "your pay for this review was released to you"),
        company_says=("paid by Inloop; your balance is not charged",),
        expert_never=(*STALE, "not paid"),
        company_never=(*STALE, "refunded to your balance"),
    ),
]


def test_the_table_covers_every_phase():
    assert [case.phase for case in CASES] == list(PHASES)


def _answer(dispute, expert):
    return dispute_services.dispute_expert_answer(
        dispute=dispute, user=expert, statement="I checked every finding."
    )


def _decide(dispute, operator, capture, **decision):
    with capture(execute=True):
        return dispute_services.dispute_decide(
            dispute=dispute, operator=operator, note="Decided on the evidence.", **decision
        )


def _dispute_in(phase, *, organization, company_member, expert, operator, capture, settings):
    """A dispute brought to `phase` through the real services (only the clock is moved)."""
    dispute = open_dispute(submitted_assignment(organization, expert), company_member)
    if phase == "awaiting_answer":
        return dispute
    if phase in ("answer_overdue", "ready_unanswered"):
        past = timezone.now() - timedelta(minutes=1)
        Dispute.objects.filter(pk=dispute.pk).update(expert_answer_due_at=past)
        if phase == "ready_unanswered":
            dispute_services.dispute_timers_run()
        return Dispute.objects.get(pk=dispute.pk)
    dispute = _answer(dispute, expert)
    if phase == "ready_answered":
        return dispute
    if phase == "awaiting_approval":
        settings.DISPUTE_APPROVAL_THRESHOLD_CENTS = 100
        return _decide(dispute, operator, capture, outcome="full_refund")
    decision = {
        "resolved_release": {"outcome": "release"},
        "resolved_partial_refund": {"outcome": "partial_refund", "amount_cents": 1_000},
        "resolved_full_refund": {"outcome": "full_refund"},
        "resolved_rework_refund": {"outcome": "rework", "rework_funded_by": "refund"},
        "resolved_rework_platform": {"outcome": "rework", "rework_funded_by": "platform"},
    }[phase]
    return _decide(dispute, operator, capture, **decision)


def _text(response) -> str:
    """The page as a reader gets it: tags dropped, entities of quotes undone, spaces collapsed."""
    assert response.status_code == 200
    html = response.content.decode()
    main = html[html.index("<main") : html.index("</main>")]
    text = re.sub(r"<[^>]+>", " ", main).replace("&#x27;", "'").replace("&quot;", '"')
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("case", CASES, ids=[case.phase for case in CASES])
def test_each_page_says_what_is_true_in_each_phase(
    case,
    settings,
    organization,
    company_member,
    expert,
    operator,
    django_capture_on_commit_callbacks,
):
    settings.DISPUTE_APPROVAL_THRESHOLD_CENTS = 1_000_000
    dispute = _dispute_in(
        case.phase,
        organization=organization,
        company_member=company_member,
        expert=expert,
        operator=operator,
        capture=django_capture_on_commit_callbacks,
        settings=settings,
    )
    assert dispute_phase(dispute=dispute) == case.phase
    expert_page = _text(login_client(expert).get(f"/expert/disputes/{dispute.pk}/"))
    company_page = _text(login_client(company_member).get(f"/company/disputes/{dispute.pk}/"))
    for phrase in case.expert_says:
        assert phrase in expert_page, f"expert page lacks {phrase!r}: {expert_page}"
    for phrase in case.expert_never:
        assert phrase not in expert_page, f"expert page says {phrase!r}: {expert_page}"
    for phrase in case.company_says:
        assert phrase in company_page, f"company page lacks {phrase!r}: {company_page}"
    for phrase in case.company_never:
        assert phrase not in company_page, f"company page says {phrase!r}: {company_page}"
    give_operator_mfa(operator)
    console_page = _text(login_client(operator).get(f"/console/disputes/{dispute.pk}/"))
    if case.phase != "awaiting_answer":
        assert "answer due" not in console_page
