"""``/api/retraining-policies/`` and ``/api/retraining-cycles/`` (see apps.automation.api)."""

from __future__ import annotations

from django.urls import path

import apps.api.converters  # noqa: F401  (registers <id:...>)
from apps.automation import api

app_name = "automation_api"

urlpatterns = [
    path("retraining-policies/", api.PolicyListView.as_view(), name="policies"),
    path("retraining-policies/<id:pk>/", api.PolicyDetailView.as_view(), name="policy"),
    path("retraining-policies/<id:pk>/run/", api.PolicyRunView.as_view(), name="policy-run"),
    path("retraining-cycles/", api.CycleListView.as_view(), name="cycles"),
    path("retraining-cycles/<id:pk>/", api.CycleDetailView.as_view(), name="cycle"),
    path("retraining-cycles/<id:pk>/cancel/", api.CycleCancelView.as_view(), name="cycle-cancel"),
]
