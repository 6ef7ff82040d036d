"""The platform's two stores, from the settings: model artifacts and uploaded import files.

With ARTIFACT_STORAGE_URL empty (the embedded default) they are the local folders ARTIFACT_ROOT and
IMPORT_UPLOAD_DIR, which every web and worker process must see. With ``s3://bucket/prefix`` they are
``<prefix>/artifacts`` and ``<prefix>/uploads`` in object storage, and no process needs a shared folder:
readers keep verified copies of models in ARTIFACT_CACHE_DIR (see ``workers.ml.storage``).
"""

from __future__ import annotations

from django.conf import settings

from workers.ml.storage import Storage


def remote_storage() -> Storage | None:
    """The object storage named by ARTIFACT_STORAGE_URL, or None when the local folders are used."""
    if not settings.ARTIFACT_STORAGE_URL:
        return None
    return Storage(settings.ARTIFACT_STORAGE_URL, endpoint_url=settings.ARTIFACT_STORAGE_ENDPOINT_URL or None)


def artifact_storage() -> Storage:
    """Where model versions' artifact folders are published."""
    remote = remote_storage()
    return remote.child("artifacts") if remote is not None else Storage(settings.ARTIFACT_ROOT)


def upload_storage() -> Storage:
    """Where uploaded import files wait for the worker that imports them."""
    remote = remote_storage()
    return remote.child("uploads") if remote is not None else Storage(settings.IMPORT_UPLOAD_DIR)
