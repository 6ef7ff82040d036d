"""REST API for reviews, imports and dataset snapshots.

- ``/api/reviews/``: list with filters and search; create one review; ``/api/reviews/bulk/`` creates up to
  1,000 at once; ``/api/reviews/<id>/`` reads one and, for ML admins, deletes it (``reviews``).
- ``/api/imports/``: upload a file to import on a worker, follow its status (``imports``).
- ``/api/snapshots/``: freeze the labelled reviews into a snapshot; read one with its counts and hash (``snapshots``).
"""

from __future__ import annotations

from apps.reviews.api.imports import ImportCancelView, ImportDetailView, ImportListView
from apps.reviews.api.reviews import ReviewBulkCreateView, ReviewDetailView, ReviewListView
from apps.reviews.api.snapshots import SnapshotDetailView, SnapshotListView

__all__ = [
    "ImportCancelView",
    "ImportDetailView",
    "ImportListView",
    "ReviewBulkCreateView",
    "ReviewDetailView",
    "ReviewListView",
    "SnapshotDetailView",
    "SnapshotListView",
]
