from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/labelling/", include("apps.labelling.api_urls")),
    path("api/", include("apps.automation.api_urls")),
    path("api/", include("apps.api.urls")),
    path("labelling/", include("apps.labelling.urls")),
    path("retraining/", include("apps.automation.urls")),
    path("", include("apps.dashboard.urls")),
    path("", include("apps.predictions.urls")),
]

# Unknown addresses under /api/ answer 404 in the API's error envelope; other pages get Django's page.
handler404 = "apps.api.errors.not_found_view"
# A database or broker outage answers 503 with Retry-After (pages and API alike), never a bare 500.
handler500 = "apps.common.outages.server_error_view"
