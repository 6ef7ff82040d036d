from __future__ import annotations

from django.urls import path

from apps.predictions import views

app_name = "predictions"

urlpatterns = [
    path("predict/", views.predict, name="predict"),
]
