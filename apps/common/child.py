"""A job's work in a process of its own, started and supervised by the worker that claimed the job.

Training and evaluation run this way on workers (``JobRunner.child_process``), whatever Celery's pool:
a fresh interpreter, not a daemonic pool child, so the Trainer may start data-loader processes; the GPU
memory goes back to the driver when the process ends; a cancellation is a signal to the process group.
The child is started with ``PR_SET_PDEATHSIG``, so a worker killed with SIGKILL takes it along (no orphan
holding a GPU), and each child does the same for its own ranks under ``torchrun``.

The child (``python -m workers.child``) writes progress and heartbeats to the job's row as the worker
would; when its work is done it writes what the kind needs to record the success into a JSON file, and
the worker records it, so the success stays one transaction in one place.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from apps.common.execution import JobCancelled
from apps.common.lifetime import die_with_parent

if TYPE_CHECKING:
    from apps.common.execution import JobExecution

logger = logging.getLogger(__name__)

# Seconds a cancelled child gets after SIGTERM before its process group is killed.
STOP_GRACE_SECONDS = 10.0
POLL_SECONDS = 0.5
LOG_TAIL_BYTES = 4_000


class ChildFailed(Exception):
    """The job's process failed or died; the message says how."""


def command(runner: JobExecution[Any], result_path: Path) -> list[str]:
    """``python -m workers.child LABEL PK RESULT``, under ``torchrun`` when TRAIN_PROCESSES asks for several."""
    entry = ["-m", "workers.child", runner.model._meta.label, str(runner.job.pk), str(result_path)]
    processes = int(getattr(settings, "TRAIN_PROCESSES", 1))
    if processes > 1 and runner.distributed:
        return [
            sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
            *entry,
        ]  # fmt: skip
    return [sys.executable, *entry]


def run_in_child(runner: JobExecution[Any]) -> dict[str, Any]:
    """Run ``runner``'s work in a child process; returns the state the child handed back.

    Raises ``JobCancelled`` when the job was cancelled (the process group is signalled), ``ChildFailed``
    with the child's own message when its work failed, or with its exit status when it died.
    """
    folder = Path(tempfile.mkdtemp(prefix=f"job-{runner.job.pk}-"))
    result_path, log_path = folder / "result.json", folder / "child.log"
    environment = {**os.environ, "JOB_PARENT_PID": str(os.getpid())}
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603  (our own interpreter and module, no shell)
            command(runner, result_path),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509  (one prctl call, looked up before the fork)
        )
    runner.progress.log_line(f"Started process {process.pid} for the {runner.what} ({' '.join(command(runner, result_path)[1:4])}).")
    try:
        cancelled = _supervise(runner, process)
    finally:
        if process.poll() is None:
            _stop_group(process)
    try:
        outcome = json.loads(result_path.read_text()) if result_path.exists() else None
        if cancelled or (outcome or {}).get("cancelled"):
            raise JobCancelled
        # The child exits 0 after writing an error too: its outcome then holds the error, not a state.
        if outcome is None or process.returncode != 0 or "state" not in outcome:
            if outcome and outcome.get("error"):
                runner.progress.log_line(outcome.get("traceback", ""))
                raise ChildFailed(outcome["error"])
            raise ChildFailed(_death_message(runner, process.returncode, log_path))
        return outcome["state"]
    finally:
        for path in (result_path, log_path):
            path.unlink(missing_ok=True)
        folder.rmdir()


def _supervise(runner: JobExecution[Any], process: subprocess.Popen[bytes]) -> bool:
    """Wait for the child; True when it was stopped because the job was cancelled."""
    while process.poll() is None:
        if runner.progress.should_stop():
            runner.progress.log_line(f"Cancelled: stopping process group {process.pid}.")
            _stop_group(process)
            return True
        time.sleep(POLL_SECONDS)
    return False


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole group (data-loader workers, DDP ranks), SIGKILL after STOP_GRACE_SECONDS."""
    for sig, wait in ((signal.SIGTERM, STOP_GRACE_SECONDS), (signal.SIGKILL, 30.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _death_message(runner: JobExecution[Any], returncode: int | None, log_path: Path) -> str:
    if returncode is not None and returncode < 0:
        how = f"was killed by {signal.Signals(-returncode).name}"
        if -returncode == signal.SIGKILL:
            how += " (out of memory?)"
    else:
        how = f"exited with status {returncode}"
    tail = log_path.read_bytes()[-LOG_TAIL_BYTES:].decode(errors="replace").strip() if log_path.exists() else ""
    last = tail.splitlines()[-1] if tail else "no output"
    return f"The {runner.what}'s process {how} before it finished; its last words: {last}"
