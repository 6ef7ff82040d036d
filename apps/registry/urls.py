"""``/api/models/``: the model registry's REST API (see apps.registry.api)."""

from __future__ import annotations

from django.urls import path

import apps.api.converters  # noqa: F401  (registers <id:...>)
from apps.registry import api, api_ensembles, api_hub

app_name = "registry_api"

urlpatterns = [
    path("", api.ModelVersionListView.as_view(), name="list"),
    path("current/", api.CurrentModelVersionView.as_view(), name="current"),
    path("promotions/", api.PromotionHistoryView.as_view(), name="promotions"),
    path("rollback/", api.RollbackView.as_view(), name="rollback"),
    path("register/", api_hub.RegisterView.as_view(), name="register"),
    path("hub-jobs/", api_hub.HubJobListView.as_view(), name="hub-jobs"),
    path("hub-jobs/<id:pk>/", api_hub.HubJobDetailView.as_view(), name="hub-job"),
    path("ensembles/", api_ensembles.EnsembleBuildListView.as_view(), name="ensembles"),
    path("ensembles/<id:pk>/", api_ensembles.EnsembleBuildDetailView.as_view(), name="ensemble"),
    path("ensembles/<id:pk>/cancel/", api_ensembles.EnsembleBuildCancelView.as_view(), name="ensemble-cancel"),
    path("<id:pk>/", api.ModelVersionDetailView.as_view(), name="detail"),
    path("<id:pk>/card/", api.ModelCardView.as_view(), name="card"),
    path("<id:pk>/promote/", api.PromoteView.as_view(), name="promote"),
    path("<id:pk>/publish/", api_hub.PublishView.as_view(), name="publish"),
]
