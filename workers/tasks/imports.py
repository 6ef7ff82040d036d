"""Review imports queued from the UI and the API (``apps.reviews.services.import_job_enqueue``)."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.common.choices import JobStatus
from apps.reviews.importers import ReviewImportError
from apps.reviews.models import ImportJob
from apps.reviews.services import review_import

logger = logging.getLogger(__name__)


@shared_task
def run_import_job(job_id: int) -> None:
    job = ImportJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None:
        logger.warning("Import job %s does not exist; nothing to run.", job_id)
        return
    if job.status != JobStatus.QUEUED:
        logger.warning("Import job %s is %s, not queued; it is not run again.", job_id, job.status)
        return
    try:
        review_import(source=job.source, source_name=job.source_name or None, created_by=job.created_by, job=job)
    except ReviewImportError as error:
        # The job holds the message for the people who queued it; the worker has nothing to retry.
        logger.info("Import job %s failed: %s", job_id, error)
