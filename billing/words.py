"""Money movements in words a finance person reads: "Review of “async retry helper” by Hugo
Walsh, 1 min 14 s at $235.00/h + fee: $5.80", not `assignment:<uuid>:capture`.

Billing knows holds, earnings and refunds by the hold's ref; what the hold paid for (a request's
title, its expert, its page) belongs to the app that placed it. That app registers a lookup here
(`subject_lookup_register`, called from its AppConfig.ready), so billing never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from billing.models import Earning, Hold, Refund
from marketplace.templatetags.inloop import duration, format_cents


@dataclass(frozen=True)
class Subject:
    """What one hold paid for, told by the app that placed it."""

    text: str  # "Review of “async retry helper” by Hugo Walsh"
    url: str = ""  # the page of the request, for the company
    group: str = ""  # what spend is grouped by (the request's specialization)


SubjectLookup = Callable[[list[str]], dict[str, Subject]]
subject_lookups: list[SubjectLookup] = []


def subject_lookup_register(lookup: SubjectLookup) -> None:
    if lookup not in subject_lookups:
        subject_lookups.append(lookup)


def subjects_for(hold_refs: Iterable[str]) -> dict[str, Subject]:
    refs = sorted(set(hold_refs))
    found: dict[str, Subject] = {}
    if refs:
        for lookup in subject_lookups:
            found.update(lookup(refs))
    return found


def hold_ref_of(txn_ref: str) -> str:
    """`assignment:<id>:capture` -> `assignment:<id>` (the ledger's refs of a hold's steps)."""
    head, _, step = txn_ref.rpartition(":")
    return head if step in ("hold", "capture", "release") else ""


def refund_id_of(txn_ref: str) -> int | None:
    """`refund:<pk>` -> pk (the ledger's ref of a refund); None for any other ref."""
    kind, _, pk = txn_ref.partition(":")
    return int(pk) if kind == "refund" and pk.isdigit() else None


def refund_words(reason: str) -> str:
    """A dispute's refund reason ("dispute <id>: partial refund") as "Partial refund after a
    dispute"; any other reason as it was written."""
    head, sep, outcome = reason.partition(": ")
    if sep and head.startswith("dispute ") and outcome:
        return f"{outcome[:1].upper()}{outcome[1:]} after a dispute"
    return reason


def charge_words(subject_text: str, earning: Earning) -> str:
    what = (
        f"{subject_text}, {duration(earning.billed_seconds)} at "
        f"{format_cents(earning.rate_cents)}/h"
    )
    if earning.payer == Hold.Payer.PLATFORM:
        return f"{what}: paid by Inloop (rework after a dispute)"
    return f"{what} + fee: {format_cents(earning.company_cost_cents)}"


@dataclass(frozen=True)
class Described:
    text: str
    url: str = ""


class LineDescriber:
    """Words for the ledger transactions of one page, in a fixed number of queries: collect the
    refs first (`want`), then `describe` each line."""

    def __init__(self, *, organization, txn_refs: Iterable[str]):
        txn_refs = list(txn_refs)
        refund_ids = [pk for pk in map(refund_id_of, txn_refs) if pk is not None]
        self.refunds = {
            refund.pk: refund
            for refund in Refund.objects.filter(
                pk__in=refund_ids, earning__organization=organization
            ).select_related("earning")
        }
        hold_refs = {hold_ref_of(ref) for ref in txn_refs} - {""}
        hold_refs |= {refund.earning.ref for refund in self.refunds.values()}
        self.earnings = {
            earning.ref: earning
            for earning in Earning.objects.filter(organization=organization, ref__in=hold_refs)
        }
        self.subjects = subjects_for(hold_refs)

    def subject(self, hold_ref: str) -> Subject:
        return self.subjects.get(hold_ref) or Subject(text="A review")

    def describe(self, *, ref: str, reason: str, fallback: str) -> Described:
        """The line in words; `fallback` (its memo or label) when it is about no known hold."""
        hold_ref = hold_ref_of(ref)
        if reason == "hold" and hold_ref:
            subject = self.subject(hold_ref)
            return Described(f"Held for {subject.text} until the review is submitted", subject.url)
        if reason == "capture" and hold_ref:
            subject = self.subject(hold_ref)
            earning = self.earnings.get(hold_ref)
            if earning is None:
                return Described(f"Charged for {subject.text}", subject.url)
            return Described(
                charge_words(subject.text, earning) + "; the rest of the hold released",
                subject.url,
            )
        if reason == "release" and hold_ref:
            subject = self.subject(hold_ref)
            return Described(f"Hold for {subject.text} released: nothing charged", subject.url)
        if reason == "refund":
            refund = self.refunds.get(refund_id_of(ref))
            if refund is not None:
                subject = self.subject(refund.earning.ref)
                return Described(f"{refund_words(refund.reason)}: {subject.text}", subject.url)
        return Described(fallback)
