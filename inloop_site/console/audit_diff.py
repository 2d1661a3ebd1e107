"""The audit log's before/after as rows a person reads: "Field: old → new" for each changed field,
money in dollars, ledger account keys in words. Pure: the view looks up the names it needs.

Ledger postings store each touched account's balance under the account's label, "<kind>" for a
platform account or "<kind> <owner key>" ("company_available org:<pk>", "expert_pending
user:<pk>"; billing.ledger). `account_names` maps owner keys to what a person calls the owner
("org:<pk>" -> "Acme AI"); an owner missing from it is called "company" or "expert"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from billing.models import LedgerAccount
from marketplace.templatetags.inloop import format_cents

# What each ledger account holds, after its owner's name.
ACCOUNT_WORDS = {
    LedgerAccount.Kind.COMPANY_AVAILABLE: "available balance",
    LedgerAccount.Kind.COMPANY_HELD: "held balance",
    LedgerAccount.Kind.EXPERT_PENDING: "pending earnings",
    LedgerAccount.Kind.EXPERT_AVAILABLE: "available earnings",
    LedgerAccount.Kind.EXPERT_PAID_OUT: "paid out",
}
OWNER_FALLBACK = {"org": "company", "user": "expert"}
ACCOUNT_KEY = re.compile(r"^(?P<kind>[a-z_]+)(?: (?P<owner>(?P<owner_type>org|user):\S+))?$")
# Field names whose generic spelling reads wrong ("Api keys revoked").
FIELD_LABELS = {
    "api_keys_revoked": "API keys revoked",
    "api_keys_still_working": "API keys still working",
    "totp": "Authenticator app",
    "fee_percent": "Fee (%)",
    "hold_ref": "Hold reference",
    "ref": "Reference",
    "refund_id": "Refund",
    "stripe_account_id": "Stripe account",
    "ip": "IP address",
}
CODE_WORD = re.compile(r"^[a-z]+(?:_[a-z]+)+$")  # "awaiting_approval" -> "awaiting approval"


@dataclass(frozen=True)
class DiffRow:
    label: str
    old: str | None  # None: the field is only in the after state
    new: str | None  # None: the field is only in the before state (shown as context)
    change: str = ""  # money only: "+$5.00" / "-$5.00"


def field_label(name: str) -> str:
    if name in FIELD_LABELS:
        return FIELD_LABELS[name]
    words = name.removesuffix("_cents").replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else name


def account_label(key: str, *, account_names: dict[str, str]) -> str | None:
    """ "company_available org:7" -> "Acme AI available balance"; None if not an account key."""
    match = ACCOUNT_KEY.match(key)
    if match is None or match["kind"] not in LedgerAccount.Kind.values:
        return None
    kind = LedgerAccount.Kind(match["kind"])
    if match["owner"] is None:
        return kind.label
    owner = account_names.get(match["owner"]) or OWNER_FALLBACK[match["owner_type"]]
    return f"{owner} {ACCOUNT_WORDS.get(kind, kind.label.lower())}"


def value_text(value: Any, *, money: bool = False) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if money and isinstance(value, int):
        return format_cents(value)
    if isinstance(value, list | tuple):
        return ", ".join(value_text(item) for item in value) or "—"
    if isinstance(value, dict):
        parts = [
            f"{field_label(key)}: {value_text(item, money=key.endswith('_cents'))}"
            for key, item in value.items()
        ]
        return "; ".join(parts) or "—"
    text = str(value)
    return text.replace("_", " ") if CODE_WORD.match(text) else text


def _as_dict(state: Any) -> dict[str, Any] | None:
    if state is None:
        return None
    return state if isinstance(state, dict) else {"value": state}


def audit_diff(
    *, before: Any, after: Any, ledger: bool = False, account_names: dict[str, str] | None = None
) -> list[DiffRow]:
    """One row per field that changed (or that only one side has); equal fields are left out.
    `ledger`: the keys are account labels and the values balances in cents."""
    old_state, new_state = _as_dict(before), _as_dict(after)
    names = account_names or {}
    keys = list(old_state or {}) + [key for key in new_state or {} if key not in (old_state or {})]
    rows = []
    for key in keys:
        in_old = old_state is not None and key in old_state
        in_new = new_state is not None and key in new_state
        old_value = old_state.get(key) if in_old else None
        new_value = new_state.get(key) if in_new else None
        if in_old and in_new and old_value == new_value:
            continue
        label = account_label(key, account_names=names) if ledger else None
        money = label is not None or key.endswith("_cents")
        change = ""
        if money and isinstance(old_value, int) and isinstance(new_value, int):
            delta = new_value - old_value
            change = ("+" if delta > 0 else "") + format_cents(delta)
        rows.append(
            DiffRow(
                label=label or field_label(key),
                old=value_text(old_value, money=money) if in_old else None,
                new=value_text(new_value, money=money) if in_new else None,
                change=change,
            )
        )
    return rows


def owner_keys(*, before: Any, after: Any) -> set[str]:
    """The owner keys ("org:<pk>", "user:<pk>") a ledger row's account labels name."""
    found = set()
    for state in (_as_dict(before), _as_dict(after)):
        for key in state or {}:
            match = ACCOUNT_KEY.match(key)
            if match and match["owner"]:
                found.add(match["owner"])
    return found
