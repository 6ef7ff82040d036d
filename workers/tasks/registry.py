"""Ensemble builds, on queue ``gpu`` when a member is a transformer, else ``default``.

Thin, like the training tasks: the task takes a build id and hands it to its kind of job
(``apps.registry.runners.EnsembleBuildRunner``), which claims the row under a lock and does the work
in a process of its own.
"""

from __future__ import annotations

from celery import Task, shared_task

from apps.registry.runners import EnsembleBuildRunner


@shared_task(name="registry.build_ensemble", bind=True, acks_late=True, ignore_result=True)
def build_ensemble(self: Task, build_id: int) -> None:
    """Build the ensemble of build ``build_id``: score its members, fit the weights, register the version."""
    EnsembleBuildRunner.handle(build_id, worker=self.request.hostname, in_child=True)
