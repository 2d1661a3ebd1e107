from __future__ import annotations

from django.apps import AppConfig


class InloopSiteConfig(AppConfig):
    name = "inloop_site"
    verbose_name = "Inloop site (composition)"
