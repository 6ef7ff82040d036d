from __future__ import annotations

from django.urls import path

from apps.automation import views

app_name = "automation"

urlpatterns = [
    path("", views.cycle_list, name="cycles"),
    path("policies/<int:policy_id>/run/", views.policy_run, name="policy-run"),
]
