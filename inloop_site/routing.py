"""Websocket routes of every app."""

from __future__ import annotations

from django.urls import path

from marketplace.consumers import NotificationsConsumer
from review_requests.routing import websocket_urlpatterns as workspace_urlpatterns

websocket_urlpatterns = [
    path("ws/notifications/", NotificationsConsumer.as_asgi()),
    *workspace_urlpatterns,
]
