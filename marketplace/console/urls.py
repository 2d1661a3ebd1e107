"""Operator console (composition: may import every app)."""

from __future__ import annotations

from django.urls import path

from marketplace.console import views

urlpatterns = [
    path("console/", views.console_home, name="console_home"),
]
