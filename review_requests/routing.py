"""Websocket routes of the live workspace."""

from __future__ import annotations

from django.urls import path

from review_requests.consumers import WorkspaceConsumer

websocket_urlpatterns: list = [
    path("ws/assignments/<uuid:assignment_id>/", WorkspaceConsumer.as_asgi()),
]
