"""``/api/labelling/``: the labelling REST API (see apps.labelling.api)."""

from __future__ import annotations

from django.urls import path

from apps.labelling import api, noise_api

app_name = "labelling_api"

urlpatterns = [
    path("queues/", api.QueueListCreateView.as_view(), name="queues"),
    path("queues/<int:pk>/", api.QueueDetailView.as_view(), name="queue"),
    path("queues/<int:pk>/reorder/", api.QueueReorderView.as_view(), name="queue-reorder"),
    path("queues/<int:pk>/progress/", api.QueueProgressView.as_view(), name="queue-progress"),
    path("queues/<int:pk>/next/", api.NextReviewView.as_view(), name="next"),
    path("queues/<int:pk>/labels/", api.LabelView.as_view(), name="label"),
    path("queues/<int:pk>/skip/", api.SkipView.as_view(), name="skip"),
    path("queues/<int:pk>/undo/", api.UndoView.as_view(), name="undo"),
    path("conflicts/", api.ConflictListView.as_view(), name="conflicts"),
    path("reviews/<int:review_id>/settle/", api.SettleView.as_view(), name="settle"),
    path("agreement/", api.AgreementView.as_view(), name="agreement"),
    path("annotations/", api.AnnotationListView.as_view(), name="annotations"),
    path("export.csv", api.ExportView.as_view(), {"file_format": "csv"}, name="export-csv"),
    path("export.jsonl", api.ExportView.as_view(), {"file_format": "jsonl"}, name="export-jsonl"),
    path("uploads/", api.UploadView.as_view(), name="upload"),
    path("snapshots/", api.SnapshotView.as_view(), name="snapshot"),
    path("noise/", noise_api.NoiseListView.as_view(), name="noise"),
    path("noise/<int:pk>/", noise_api.NoiseDetailView.as_view(), name="noise-detail"),
]
