"""The client's address, decided once for everything that counts or records it: allauth's rate
limits (through AccountAdapter.get_client_ip) and the audit log.

Behind a load balancer every request's peer (REMOTE_ADDR) is the balancer, so ten failed logins
from anyone would lock everyone out. With `TRUSTED_PROXY_COUNT = n`, the n proxies in front of
the app each append the address they saw to X-Forwarded-For, so the n-th entry from the right
is the one our first proxy saw: entries further left were sent by the client and are not
believed. Off (0) by default: then the header is ignored, as anyone can send it. The app must
then be reachable only through those proxies.
"""

from __future__ import annotations

import ipaddress
import logging

from django.conf import settings
from django.http import HttpRequest

logger = logging.getLogger("inloop.clientip")


def client_ip(request: HttpRequest) -> str | None:
    """The client's IP address: from X-Forwarded-For as configured, else the peer's."""
    peer = request.META.get("REMOTE_ADDR") or None
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return peer
    entries = [entry.strip() for entry in request.headers.get("X-Forwarded-For", "").split(",")]
    entries = [entry for entry in entries if entry]
    if len(entries) < count:
        logger.warning("X-Forwarded-For has %d entries for %d trusted proxies", len(entries), count)
        return peer
    try:
        return str(ipaddress.ip_address(entries[-count]))
    except ValueError:
        logger.warning("X-Forwarded-For entry is not an address: %r", entries[-count][:64])
        return peer
