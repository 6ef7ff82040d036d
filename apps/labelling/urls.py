"""``/labelling/``: the labelling pages (see apps.labelling.views)."""

from __future__ import annotations

from django.urls import path

from apps.labelling import noise_views, views

app_name = "labelling"

urlpatterns = [
    path("", views.index, name="index"),
    path("queues/new/", views.queue_new, name="queue-new"),
    path("queues/<int:queue_id>/", views.queue_detail, name="queue-detail"),
    path("queues/<int:queue_id>/edit/", views.queue_edit, name="queue-edit"),
    path("queues/<int:queue_id>/reorder/", views.queue_reorder, name="queue-reorder"),
    path("queues/<int:queue_id>/predict/", views.queue_predict, name="queue-predict"),
    path("queues/<int:queue_id>/label/", views.label, name="label"),
    path("conflicts/", views.conflicts, name="conflicts"),
    path("conflicts/<int:review_id>/settle/", views.settle, name="settle"),
    path("agreement/", views.agreement, name="agreement"),
    path("upload/", views.upload, name="upload"),
    path("labels.csv", views.export, {"file_format": "csv"}, name="export-csv"),
    path("labels.jsonl", views.export, {"file_format": "jsonl"}, name="export-jsonl"),
    path("snapshot/", views.snapshot, name="snapshot"),
    path("noise/", noise_views.noise, name="noise"),
    path("noise/<int:detection_id>/", noise_views.noise_detection, name="noise-detection"),
]
