from __future__ import annotations

from django.urls import path

from apps.predictions import api, views

app_name = "predictions"

urlpatterns = [
    path("predict/", views.predict, name="predict"),
    path("api/predict", api.PredictView.as_view(), name="api-predict"),
]
