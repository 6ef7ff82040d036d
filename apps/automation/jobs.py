"""A retraining cycle's kind of job as the web sees it: the row, the Celery task, the queue, the reaper's advice.

Queueing and cancelling a cycle need no more than this; what a worker runs for it is in
``apps.automation.runners``, whose ``CycleRunner`` extends ``CycleJob``.
"""

from __future__ import annotations

from apps.automation.models import RetrainingCycle
from apps.common.jobs import JobRunner
from apps.training.jobs import QUEUE_BY_KIND


class CycleJob(JobRunner[RetrainingCycle]):
    model = RetrainingCycle
    task_name = "automation.run_cycle"
    what = "retraining cycle"

    @classmethod
    def queue_for(cls, job: RetrainingCycle) -> str:
        return QUEUE_BY_KIND.get(job.policy.kind, "default")

    @classmethod
    def stale_advice(cls) -> str:
        return " (start a new cycle from the policy)"
