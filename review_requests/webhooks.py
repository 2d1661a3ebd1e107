"""Outbound webhooks to companies: events frozen at creation, signed, delivered after commit by a
background task, retried with exponential backoff for more than 24 hours.

Also the guard against server-side request forgery: a callback URL must be https (plain http to
localhost only with DEBUG) and must not resolve to a private, loopback, link-local, reserved or
multicast address unless DEBUG is on, nor to an IPv6 form that carries one (IPv4-mapped,
-compatible and -translated, NAT64, 6to4, Teredo). It is checked when a request is created and again at every
delivery, where the address checked is the one connected to (no second DNS lookup to rebind).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from review_requests.models import ReviewRequest, WebhookEvent

EVENT_TYPES = {
    "in_review": "review_request.in_review",
    "completed": "review_request.completed",
    "cancelled": "review_request.cancelled",
    "expired": "review_request.expired",
}
# Not a status change of one request: a batch of requests created auto-approved.
AUTO_APPROVED_EVENT = "review_request.auto_approved"
# Every type an event can have (the delivery log's filter).
ALL_EVENT_TYPES = (*sorted(EVENT_TYPES.values()), AUTO_APPROVED_EVENT)

# Delays after attempt n (1-based): 30 s, 1, 2, 4, ... min, capped at 4 h. 16 attempts span about
# 28 hours (test_retry_schedule_spans_more_than_a_day), so a receiver down for a day still gets it.
MAX_ATTEMPTS = 16

SIGNATURE_HEADER = "Inloop-Signature"
LOCAL_HOSTNAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def retry_delay(attempt: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** (attempt - 1), 4 * 3600))


def sign(*, secret: str, timestamp: int, body: str) -> str:
    """`Inloop-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (contract/API.md)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# Standard Webhooks (standardwebhooks.com): the same body is also signed in the headers
# `webhook-id` (the event id, stable across retries), `webhook-timestamp` and `webhook-signature`
# (`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`), so receivers can use the
# `standardwebhooks` library or a gateway that speaks it. Inloop-Signature stays as it was.
# That scheme's secret is `whsec_<base64 key>`. Ours are `whsec_<48 hex digits>`, and hex digits
# are base64 too, so an organization's secret as shown is its Standard Webhooks secret as it is
# (key: the 36 bytes those 48 characters decode to). A secret not of that form (none is made so,
# but a row may have been written by hand) signs with its UTF-8 bytes, i.e. its Standard
# Webhooks secret is `whsec_` + base64 of it: `standard_webhooks_secret` says which.
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
STANDARD_SECRET_PREFIX = "whsec_"


def _standard_key_of_prefixed(secret: str) -> bytes | None:
    if not secret.startswith(STANDARD_SECRET_PREFIX):
        return None
    try:
        key = base64.b64decode(secret.removeprefix(STANDARD_SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


def standard_webhooks_key(secret: str) -> bytes:
    key = _standard_key_of_prefixed(secret)
    return key if key is not None else secret.encode()


def standard_webhooks_secret(secret: str) -> str:
    """What to give `standardwebhooks.Webhook(...)` for an organization's webhook secret."""
    if _standard_key_of_prefixed(secret) is not None:
        return secret
    return STANDARD_SECRET_PREFIX + base64.b64encode(secret.encode()).decode()


def standard_sign(*, secret: str, msg_id: str, timestamp: int, body: str) -> str:
    signed = f"{msg_id}.{timestamp}.{body}".encode()
    digest = hmac.new(standard_webhooks_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


# Shown on /company/webhooks/ and executed by the tests against real deliveries, so the snippet
# people copy is the one known to work.
VERIFY_SNIPPET = '''\
import hashlib
import hmac
import time


def verify_inloop_signature(raw_body: bytes, header: str, secret: str, tolerance: int = 300) -> bool:
    """True if `header` (the Inloop-Signature value) signs `raw_body` with `secret`."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        received = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False  # too old (or from the future): refuse replays
    signed = str(timestamp).encode() + b"." + raw_body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received)
'''


# Server-side request forgery ---------------------------------------------------------------


# IPv6 prefixes whose last 32 bits are an IPv4 address a translator or the kernel would reach:
# IPv4-compatible (::/96, deprecated), IPv4-translated (::ffff:0:0:0/96, RFC 2765) and NAT64's
# well-known prefix (64:ff9b::/96, RFC 6052). Python counts all three as global.
_EMBEDDING_PREFIXES = tuple(
    ipaddress.IPv6Network(net) for net in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96")
)
# NAT64 for local use (RFC 8215) translates into the operator's own network; Python 3.11 counts
# it as global, and where its IPv4 sits depends on the prefix length chosen, so refuse it all.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def _ip_allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # is_global is False for private, loopback, link-local, reserved, shared (100.64/10) and
    # unspecified ranges; some multicast ranges count as global, so refuse those explicitly.
    return ip.is_global and not ip.is_multicast


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (6to4, Teredo's server and client, the
    translation prefixes above)."""
    embedded = []
    if ip.sixtofour is not None:
        embedded.append(ip.sixtofour)
    if ip.teredo is not None:
        embedded.extend(ip.teredo)  # the client is the bit-inverted last 32 bits
    if any(ip in prefix for prefix in _EMBEDDING_PREFIXES):
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return embedded


def callback_address_allowed(address: str) -> bool:
    """Whether a webhook may be sent to this resolved address (with DEBUG off)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return _ip_allowed(ip)
    if ip.ipv4_mapped is not None:
        # The socket layer connects to the IPv4 address itself: judge that one alone.
        return _ip_allowed(ip.ipv4_mapped)
    if ip in _LOCAL_NAT64:
        return False
    return _ip_allowed(ip) and all(_ip_allowed(v4) for v4 in _embedded_ipv4(ip))


@dataclass(frozen=True)
class Target:
    """Where one delivery goes: the URL's parts and the address checked and connected to."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def _parse(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationError("Enter a valid URL.", code="invalid") from exc
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password:
        raise ValidationError("Enter a valid URL with a host name.", code="invalid")
    local_http = scheme == "http" and host in LOCAL_HOSTNAMES
    if local_http and not settings.DEBUG:
        raise ValidationError(
            "Plain http:// is allowed only to localhost, and only in development (DEBUG).",
            code="insecure_scheme",
        )
    if scheme != "https" and not local_http:
        raise ValidationError("The callback URL must start with https://.", code="insecure_scheme")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, port or (443 if scheme == "https" else 80), path


def callback_url_target(url: str) -> Target:
    """Parse, resolve and check a callback URL; raises ValidationError if it may not be called."""
    if len(url) > 2000:
        raise ValidationError("The callback URL is too long (2000 characters at most).")
    scheme, host, port, path = _parse(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValidationError(
            f"The callback URL's host {host} does not resolve.", code="unresolvable"
        ) from exc
    addresses = [info[4][0] for info in infos]
    callback_addresses_check(host=host, addresses=addresses)
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


def callback_addresses_check(*, host: str, addresses: list[str]) -> None:
    """Raise ValidationError unless every address `host` resolved to may be called."""
    if not addresses:
        raise ValidationError(f"The callback URL's host {host} does not resolve.")
    # Refuse if any address is internal: a round-robin name must not smuggle one in.
    if not settings.DEBUG and not all(callback_address_allowed(a) for a in addresses):
        raise ValidationError(
            "The callback URL resolves to a private, loopback or reserved address.",
            code="private_address",
        )


def callback_url_validate(url: str) -> None:
    """https only (http to localhost only with DEBUG); no private or loopback targets unless DEBUG.
    Raises django.core.exceptions.ValidationError with a message meant for the caller."""
    callback_url_target(url)


# Events --------------------------------------------------------------------------------------


def webhook_event_enqueue(*, review_request: ReviewRequest, event_type: str) -> WebhookEvent | None:
    """Freeze the event body now (inside the caller's transaction) and deliver after commit.
    Returns None when the request has no callback_url."""
    if not review_request.callback_url:
        return None
    from review_requests.serializers import review_request_to_api

    # Re-read with fresh assignments: the caller's instance may carry a stale prefetch.
    fresh = (
        ReviewRequest.objects.select_related("specialization", "policy_version__policy")
        .prefetch_related("assignments__expert")
        .get(pk=review_request.pk)
    )
    event_id = "evt_" + secrets.token_hex(12)
    body = json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "created": int(time.time()),
            "data": review_request_to_api(fresh),
        },
        separators=(",", ":"),
    )
    event = WebhookEvent.objects.create(
        id=event_id,
        organization_id=review_request.organization_id,
        review_request=review_request,
        type=event_type,
        url=review_request.callback_url,
        body=body,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: _enqueue_delivery(event_id))
    return event


AUTO_APPROVED_PER_EVENT = 100


def auto_approved_events_enqueue(*, organization_id, review_requests: list) -> list[WebhookEvent]:
    """`review_request.auto_approved` for requests just created as auto-approved, when the
    organization turned it on (oversight settings; off by default): one event per callback URL
    and up to 100 requests, `data: {"review_requests": [...]}`, frozen now, signed and retried
    like every event. The event's own request is the first it carries. No query when none of
    them has a callback URL."""
    from oversight.selectors import oversight_settings_for
    from review_requests.serializers import created_review_request_to_api

    by_url: dict[str, list] = {}
    for rr in review_requests:
        if rr.callback_url:
            by_url.setdefault(rr.callback_url, []).append(rr)
    if not by_url:
        return []
    if not oversight_settings_for(organization_id=organization_id).auto_approved_webhook:
        return []
    events = []
    for url, requests in by_url.items():
        for start in range(0, len(requests), AUTO_APPROVED_PER_EVENT):
            chunk = requests[start : start + AUTO_APPROVED_PER_EVENT]
            event_id = "evt_" + secrets.token_hex(12)
            data = {"review_requests": [created_review_request_to_api(rr) for rr in chunk]}
            body = {"id": event_id, "type": AUTO_APPROVED_EVENT, "created": int(time.time())}
            events.append(
                WebhookEvent(
                    id=event_id,
                    organization_id=organization_id,
                    review_request=chunk[0],
                    type=AUTO_APPROVED_EVENT,
                    url=url,
                    body=json.dumps({**body, "data": data}, separators=(",", ":")),
                    next_attempt_at=timezone.now(),
                )
            )
    WebhookEvent.objects.bulk_create(events)
    ids = [event.id for event in events]
    transaction.on_commit(lambda: [_enqueue_delivery(event_id) for event_id in ids])
    return events


def _enqueue_delivery(event_id: str, *, manual: bool = False) -> None:
    from review_requests.tasks import webhook_deliver, webhook_resend

    (webhook_resend if manual else webhook_deliver).enqueue(event_id)


def webhook_event_resend(*, event: WebhookEvent, actor) -> None:
    """Send the same event (same id, same body) once more, from a background task after commit.
    Only owners and admins of the event's organization may."""
    from marketplace.selectors import membership_for_user
    from marketplace.services import audit_record

    membership = membership_for_user(user=actor)
    if membership is None or membership.organization_id != event.organization_id:
        raise Http404("No such event")
    if not membership.is_admin:
        raise PermissionDenied("Only owners and admins can resend events.")
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="webhook_event.resent",
            object_type="webhook_event",
            object_id=event.pk,
            organization=membership.organization,
        )
        transaction.on_commit(lambda: _enqueue_delivery(event.pk, manual=True))


# Reads ---------------------------------------------------------------------------------------

DELIVERY_STATUSES = {
    "delivered": "Delivered",
    "failing": "Failing (retrying)",
    "pending": "Not sent yet",
    "gave_up": "Gave up",
}


def webhook_event_status(event: WebhookEvent) -> str:
    if event.delivered_at is not None:
        return "delivered"
    if event.gave_up_at is not None:
        return "gave_up"
    return "failing" if event.attempts else "pending"


_STATUS_FILTERS = {
    "delivered": Q(delivered_at__isnull=False),
    "gave_up": Q(delivered_at__isnull=True, gave_up_at__isnull=False),
    "failing": Q(delivered_at__isnull=True, gave_up_at__isnull=True, attempts__gt=0),
    "pending": Q(delivered_at__isnull=True, gave_up_at__isnull=True, attempts=0),
}


def webhook_events_for_org(
    *,
    organization,
    status: str = "",
    event_type: str = "",
    review_request_id=None,
) -> QuerySet[WebhookEvent]:
    """The delivery log, newest first; unknown filter values are ignored by the caller's form."""
    events = WebhookEvent.objects.filter(organization=organization).defer("body")
    if status in _STATUS_FILTERS:
        events = events.filter(_STATUS_FILTERS[status])
    if event_type:
        events = events.filter(type=event_type)
    if review_request_id:
        events = events.filter(review_request_id=review_request_id)
    return events.order_by("-created_at", "-pk")


def webhook_event_get_for_org(*, organization, pk: str) -> WebhookEvent:
    """Another organization's event is a 404: existence is not revealed."""
    event = (
        WebhookEvent.objects.filter(organization=organization, pk=pk)
        .prefetch_related("attempt_log")
        .first()
    )
    if event is None:
        raise Http404("No such event")
    return event
