"""``/api/models/``: the model registry's REST API (see apps.registry.api)."""

from __future__ import annotations

from django.urls import path

import apps.api.converters  # noqa: F401  (registers <id:...>)
from apps.registry import api

app_name = "registry_api"

urlpatterns = [
    path("", api.ModelVersionListView.as_view(), name="list"),
    path("current/", api.CurrentModelVersionView.as_view(), name="current"),
    path("promotions/", api.PromotionHistoryView.as_view(), name="promotions"),
    path("rollback/", api.RollbackView.as_view(), name="rollback"),
    path("<id:pk>/", api.ModelVersionDetailView.as_view(), name="detail"),
    path("<id:pk>/card/", api.ModelCardView.as_view(), name="card"),
    path("<id:pk>/promote/", api.PromoteView.as_view(), name="promote"),
]
