"""review_requests endpoints under /api/v1."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["review_requests"])
