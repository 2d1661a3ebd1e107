"""Websocket routes of the live workspace."""

from __future__ import annotations

websocket_urlpatterns: list = []
