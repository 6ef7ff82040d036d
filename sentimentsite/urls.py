from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/models/", include("apps.registry.urls")),
    path("api/labelling/", include("apps.labelling.api_urls")),
    path("labelling/", include("apps.labelling.urls")),
    path("", include("apps.dashboard.urls")),
    path("", include("apps.predictions.urls")),
]
