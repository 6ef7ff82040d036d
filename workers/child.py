"""``python -m workers.child LABEL PK RESULT``: one job's work in a process of its own (see ``apps.common.child``).

Started by the worker that claimed the job (or by ``torchrun``, once per rank). It runs the kind's
``run()`` for the job, which is already ``running``, writing progress to its row; rank 0 then writes the
kind's state for recording the success (or the error) to RESULT. Exit status 0 means RESULT says what
happened.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

from apps.common.lifetime import die_with_parent


def main(label: str, pk: int, result_path: Path) -> int:
    die_with_parent()
    parent = os.environ.get("JOB_PARENT_PID")
    if parent and os.getppid() != int(parent) and "LOCAL_RANK" not in os.environ:
        return 2  # the worker died before this process could ask to die with it
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sentimentsite.settings")
    import django

    django.setup()
    import workers.tasks  # noqa: F401  (declares every kind of job)
    from apps.common.execution import JobCancelled
    from apps.common.jobs import JobRunner
    from workers.ml import TrainingCancelled

    kind = JobRunner.kinds[label]
    runner = kind(kind.model.objects.get(pk=pk))
    rank = int(os.environ.get("RANK", "0"))
    try:
        runner.run()
        runner.progress.flush()
        outcome: dict[str, object] = {"state": runner.child_state()}
    except (JobCancelled, TrainingCancelled):
        outcome = {"cancelled": True}
    except BaseException as error:  # everything the worker must hear about, with its traceback
        outcome = {"error": kind.failure_message(error), "traceback": "".join(traceback.format_exception(error))}
    if rank == 0:
        partial = result_path.with_suffix(".partial")
        partial.write_text(json.dumps(outcome, default=str))
        partial.rename(result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])))
