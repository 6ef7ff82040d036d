"""``/api/labelling/``: the labelling REST API (see apps.labelling.api)."""

from __future__ import annotations

from django.urls import path

from apps.labelling import noise_api
from apps.labelling.api import exports, labels, queues, resolutions, uploads

app_name = "labelling_api"

urlpatterns = [
    path("queues/", queues.QueueListCreateView.as_view(), name="queues"),
    path("queues/<int:pk>/", queues.QueueDetailView.as_view(), name="queue"),
    path("queues/<int:pk>/reorder/", queues.QueueReorderView.as_view(), name="queue-reorder"),
    path("queues/<int:pk>/progress/", queues.QueueProgressView.as_view(), name="queue-progress"),
    path("queues/<int:pk>/next/", labels.NextReviewView.as_view(), name="next"),
    path("queues/<int:pk>/labels/", labels.LabelView.as_view(), name="label"),
    path("queues/<int:pk>/skip/", labels.SkipView.as_view(), name="skip"),
    path("queues/<int:pk>/undo/", labels.UndoView.as_view(), name="undo"),
    path("conflicts/", resolutions.ConflictListView.as_view(), name="conflicts"),
    path("reviews/<int:review_id>/settle/", resolutions.SettleView.as_view(), name="settle"),
    path("agreement/", resolutions.AgreementView.as_view(), name="agreement"),
    path("annotations/", exports.AnnotationListView.as_view(), name="annotations"),
    path("export.csv", exports.ExportView.as_view(), {"file_format": "csv"}, name="export-csv"),
    path("export.jsonl", exports.ExportView.as_view(), {"file_format": "jsonl"}, name="export-jsonl"),
    path("uploads/", uploads.UploadView.as_view(), name="upload"),
    path("snapshots/", uploads.SnapshotView.as_view(), name="snapshot"),
    path("noise/", noise_api.NoiseListView.as_view(), name="noise"),
    path("noise/<int:pk>/", noise_api.NoiseDetailView.as_view(), name="noise-detail"),
]
