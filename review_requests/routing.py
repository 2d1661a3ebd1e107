"""Websocket routes of the live workspace."""

from __future__ import annotations

from django.urls import path

from review_requests.consumers import WorkspaceConsumer
from review_requests.request_consumer import RequestStatusConsumer

websocket_urlpatterns: list = [
    path("ws/assignments/<uuid:assignment_id>/", WorkspaceConsumer.as_asgi()),
]

websocket_urlpatterns += [
    path("ws/requests/<uuid:request_id>/", RequestStatusConsumer.as_asgi()),
]
