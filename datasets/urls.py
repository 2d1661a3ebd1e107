from __future__ import annotations

from django.urls import path

from datasets import views

urlpatterns = [
    path("company/datasets/", views.datasets_page, name="datasets"),
]
