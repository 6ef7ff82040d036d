"""``/api/models/``: the model registry's REST API (see apps.registry.api)."""

from __future__ import annotations

from django.urls import path

from apps.registry import api

app_name = "registry_api"

urlpatterns = [
    path("", api.ModelVersionListView.as_view(), name="list"),
    path("current/", api.CurrentModelVersionView.as_view(), name="current"),
    path("promotions/", api.PromotionHistoryView.as_view(), name="promotions"),
    path("rollback/", api.RollbackView.as_view(), name="rollback"),
    path("<int:pk>/", api.ModelVersionDetailView.as_view(), name="detail"),
    path("<int:pk>/promote/", api.PromoteView.as_view(), name="promote"),
]
