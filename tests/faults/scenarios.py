"""The job scenarios: each breaks one part of a running ``Stack`` while jobs run or wait, and says what it saw.

A scenario returns ``Outcome`` rows (``tests/faults/outcome.py``) and leaves the stack healthy
(``Stack.heal``) whatever happened, so the next one starts clean. ``tests/faults/traffic.py`` holds the
one about web traffic.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from tests.faults.client import TERMINAL, Answer, Platform, idempotency_key, progress_of, reviews_jsonl
from tests.faults.harness import JOB_TIMINGS, REPO_ROOT, HarnessError, wait_for
from tests.faults.outcome import OUTAGE_SECONDS, Outcome, api_unavailable_problems, count_answers, healing, job_problem

STALE_AFTER = float(JOB_TIMINGS["RUN_STALE_AFTER_SECONDS"])
SWEEP_EVERY = float(JOB_TIMINGS["JOB_SWEEP_SECONDS"])
# The reaper may find a stale job up to one sweep late, and the worker's clock ticks on a loaded machine.
REAP_WITHIN = STALE_AFTER + 2 * SWEEP_EVERY + 8
# A run of the tiny transformer long enough to be caught mid-way (a few seconds to a minute, with the load).
# It need not outlast the outage: a run whose work ends while the database is down must wait to record it.
OUTAGE_RUN_EPOCHS = 4
# A big enough import to be caught mid-way: about 15 s of work on two shared cores.
BIG_IMPORT_ROWS = 80_000
# Imports to cancel while they run are bigger still: the command spends seconds starting Django, and both
# imports must still be running when the cancellations arrive, however busy the machine.
CANCEL_IMPORT_ROWS = 3 * BIG_IMPORT_ROWS


# --- PostgreSQL stopped while jobs run ------------------------------------------------------------------


def database_outage_during_jobs(platform: Platform, *, outage: float = OUTAGE_SECONDS) -> list[Outcome]:
    """A training run, a batch prediction job and an import are running when PostgreSQL stops for ``outage`` s."""
    return healing(platform, lambda: _database_outage_during_jobs(platform, outage))


def _database_outage_during_jobs(platform: Platform, outage: float) -> list[Outcome]:
    stack = platform.stack
    names = {
        "training": f"PostgreSQL down {outage:.0f} s during a training run",
        "batch": f"PostgreSQL down {outage:.0f} s during a batch prediction job",
        "import": f"PostgreSQL down {outage:.0f} s during an import",
    }
    outcomes = {kind: Outcome(scenario=name) for kind, name in names.items()}
    ids = {"training": _accepted(platform.submit_training(**platform.tiny_transformer(epochs=OUTAGE_RUN_EPOCHS)))}
    platform.wait_running("training", ids["training"], timeout=180)
    # The two shorter jobs start last, side by side, so that all three are mid-way when PostgreSQL stops.
    content = reviews_jsonl(BIG_IMPORT_ROWS, tag="outage", labelled=False)
    ids["import"] = _accepted(platform.submit_import(content, filename="outage.jsonl"))
    ids["batch"] = _accepted(platform.submit_batch())
    before = platform.wait_all_running(ids)
    for kind, job in before.items():
        outcomes[kind].facts.append(f"{kind} job {job['id']} was running at {progress_of(kind, job)} when PostgreSQL stopped")

    stack.postgres.stop()
    time.sleep(outage)
    stack.postgres.start()
    back = time.monotonic()

    last: dict[str, dict[str, Any] | None] = {kind: None for kind in ids}
    resumed: dict[str, float] = {}
    deadline = back + 300
    while time.monotonic() < deadline and not all(job and job["status"] in TERMINAL for job in last.values()):
        for kind, job_id in ids.items():
            job = platform.job(kind, job_id)
            if job is None:
                continue
            last[kind] = job
            moved = job["status"] in TERMINAL or progress_of(kind, job) != progress_of(kind, before[kind])
            if moved and kind not in resumed:
                resumed[kind] = time.monotonic() - back
        time.sleep(0.5)

    for kind, outcome in outcomes.items():
        job = last[kind]
        outcome.seconds_to_recover = resumed.get(kind)
        if job is None or job["status"] not in TERMINAL:
            outcome.problems.append(f"the {kind} job {ids[kind]} had not finished 300 s after PostgreSQL came back: {job}")
            continue
        outcome.facts.append(f"it ended {job['status']}; error: {job.get('error') or 'none'}")
        problem = job_problem(kind, job)
        if problem:
            outcome.problems.append(problem)
            continue
        outcome.problems.extend(_complete(platform, kind, job, expected_rows=BIG_IMPORT_ROWS))
    return list(outcomes.values())


def _accepted(answer: Answer) -> int:
    if answer.status != 202:
        raise HarnessError(f"{answer.endpoint} answered {answer.status} {answer.error}: {answer.body[:800]}")
    return int(answer.json()["id"])


def _complete(platform: Platform, kind: str, job: dict[str, Any], *, expected_rows: int) -> list[str]:
    """Problems with what a succeeded job left: all of its work, each piece once."""
    stack = platform.stack
    if kind == "training":
        versions = stack.sql("SELECT count(*) FROM registry_modelversion WHERE training_run_id = %s", job["id"])[0][0]
        folders = [p for p in (stack.root / "var" / "artifacts").iterdir() if p.name.startswith(f"{job['id']}-")]
        problems = []
        if job["model_version"] is None or versions != 1:
            problems.append(f"training run {job['id']} succeeded with {versions} model versions, not 1")
        if len(folders) != 1:
            problems.append(f"training run {job['id']} left {len(folders)} artifact folders, not 1")
        return problems
    if kind == "batch":
        stored = stack.sql("SELECT count(*), count(DISTINCT review_id) FROM predictions_prediction WHERE batch_job_id = %s", job["id"])[0]
        if not (job["processed"] == job["total"] == stored[0] == stored[1]):
            return [
                f"batch job {job['id']} shows {job['processed']} of {job['total']} reviews done and stored "
                f"{stored[0]} predictions of {stored[1]} reviews"
            ]
        return []
    reviews = stack.sql("SELECT count(*) FROM reviews_review WHERE import_job_id = %s", job["id"])[0][0]
    if not (job["rows_created"] == reviews == expected_rows):
        return [f"import {job['id']} says {job['rows_created']} created, the database holds {reviews}, the file had {expected_rows}"]
    return []


# --- The broker down when a job is submitted --------------------------------------------------------------

JOB_TABLES = {"training": "training_trainingrun", "batch": "predictions_batchpredictionjob", "import": "reviews_importjob"}


def broker_down_at_submit(platform: Platform) -> Outcome:
    """Redis is stopped while a training run, a batch job and an import are submitted, then comes back."""
    return healing(platform, lambda: _broker_down_at_submit(platform))


def _broker_down_at_submit(platform: Platform) -> Outcome:
    stack = platform.stack
    outcome = Outcome(scenario="Redis down when jobs are submitted")
    rows_before = {kind: _row_count(platform, kind) for kind in JOB_TABLES}
    keys = {kind: idempotency_key() for kind in JOB_TABLES}
    small = reviews_jsonl(50, tag="broker-down", labelled=False)
    submit: dict[str, Callable[[], Answer]] = {
        "training": lambda: platform.submit_training(kind="tfidf", headers=keys["training"]),
        "batch": lambda: platform.submit_batch(headers=keys["batch"]),
        "import": lambda: platform.submit_import(small, filename="broker-down.jsonl", headers=keys["import"]),
    }

    stack.redis.stop()
    refused: dict[str, Answer] = {kind: send() for kind, send in submit.items()}
    count_answers(outcome, refused.values())
    outcome.seconds_to_detect = max(answer.elapsed for answer in refused.values())
    for kind, answer in refused.items():
        outcome.facts.append(f"{answer.endpoint} answered {answer.status} Retry-After={answer.retry_after}: {answer.body[:300]}")
        outcome.problems.extend(api_unavailable_problems(answer, code="broker_unavailable"))
    stranded = {kind: _row_count(platform, kind) - rows_before[kind] for kind in JOB_TABLES}
    for kind, extra in stranded.items():
        if extra:
            outcome.problems.append(f"{extra} {kind} job row(s) were left behind by the refused request")

    stack.redis.start()
    back = time.monotonic()
    for kind, send in submit.items():
        answer = send()
        count_answers(outcome, [answer])
        if answer.status != 202:
            outcome.problems.append(f"the retry of the {kind} submission with its Idempotency-Key answered {answer.status}: {answer.body[:300]}")
            continue
        if answer.replayed:
            outcome.problems.append(f"the retry of the {kind} submission was answered as a replay of a request that was refused")
        job = platform.wait_job(kind, answer.json()["id"], timeout=120)
        outcome.facts.append(f"the retried {kind} job {job['id']} ended {job['status']}")
        problem = job_problem(kind, job)
        if problem:
            outcome.problems.append(problem)
    outcome.seconds_to_recover = time.monotonic() - back
    return outcome


def _row_count(platform: Platform, kind: str) -> int:
    return int(platform.stack.sql(f"SELECT count(*) FROM {JOB_TABLES[kind]}")[0][0])

# --- Redis restarted empty while jobs wait ---------------------------------------------------------------


def broker_restarted_empty(platform: Platform) -> Outcome:
    """Jobs are queued while no worker runs; Redis restarts without their messages; the workers come back."""
    return healing(platform, lambda: _broker_restarted_empty(platform))


def _broker_restarted_empty(platform: Platform) -> Outcome:
    stack = platform.stack
    outcome = Outcome(scenario="Redis restarted empty with jobs queued")
    rows = 500
    stack.stop_workers()
    ids = {
        "training": _accepted(platform.submit_training(kind="tfidf")),
        "batch": _accepted(platform.submit_batch()),
        "import": _accepted(platform.submit_import(reviews_jsonl(rows, tag="lost", labelled=False), filename="lost.jsonl")),
    }
    import redis

    waiting = sum(redis.Redis(port=stack.redis.port).llen(queue) for queue in ("default", "gpu"))
    outcome.facts.append(f"{waiting} messages waited in Redis before it restarted")
    if waiting < len(ids):
        outcome.problems.append(f"only {waiting} of {len(ids)} messages reached Redis: the scenario lost nothing to re-send")
    stack.redis.stop()
    stack.redis.start()
    restarted = time.monotonic()
    stack.start_workers()

    claimed: dict[str, float] = {}
    finished: dict[str, dict[str, Any]] = {}
    deadline = restarted + 180
    while time.monotonic() < deadline and len(finished) < len(ids):
        for kind, job_id in ids.items():
            job = platform.job(kind, job_id)
            if job is None or kind in finished:
                continue
            if job["status"] != "queued" and kind not in claimed:
                claimed[kind] = time.monotonic() - restarted
            if job["status"] in TERMINAL:
                finished[kind] = job
        time.sleep(0.5)
    outcome.seconds_to_detect = max(claimed.values()) if len(claimed) == len(ids) else None
    outcome.seconds_to_recover = time.monotonic() - restarted if len(finished) == len(ids) else None
    for kind, job_id in ids.items():
        job = finished.get(kind)
        if job is None:
            outcome.problems.append(f"the {kind} job {job_id} is still {platform.job(kind, job_id)} 180 s after Redis restarted")
            continue
        outcome.facts.append(f"the {kind} job {job_id} was claimed {claimed.get(kind, 0):.1f} s after the restart and ended {job['status']}")
        problem = job_problem(kind, job)
        outcome.problems.extend([problem] if problem else _complete(platform, kind, job, expected_rows=rows))
    return outcome


# --- A worker killed in the middle of an import, and imports cancelled ------------------------------------


def worker_killed_mid_import(platform: Platform) -> Outcome:
    """The worker running an import is SIGKILLed: another worker's reaper fails the import and removes its rows."""
    return healing(platform, lambda: _worker_killed_mid_import(platform))


def _worker_killed_mid_import(platform: Platform) -> Outcome:
    stack = platform.stack
    outcome = Outcome(scenario="worker SIGKILLed mid import")
    job_id = _accepted(platform.submit_import(reviews_jsonl(BIG_IMPORT_ROWS, tag="killed", labelled=False), filename="killed.jsonl"))
    platform.wait_running("import", job_id)
    hostname = stack.sql("SELECT worker FROM reviews_importjob WHERE id = %s", job_id)[0][0]
    victim = stack.worker_named(hostname)
    victim.kill()
    killed = time.monotonic()
    outcome.facts.append(f"killed {hostname} (pid {victim.pid}) while it ran import {job_id}")
    try:
        job = platform.wait_job("import", job_id, timeout=REAP_WITHIN + 60)
    except HarnessError:
        outcome.problems.append(f"import {job_id} was still {platform.job('import', job_id)} {REAP_WITHIN + 60:.0f} s after its worker died")
        return outcome
    outcome.seconds_to_detect = time.monotonic() - killed
    outcome.facts.append(f"it ended {job['status']}: {job.get('error')}")
    if job["status"] != "failed":
        outcome.problems.append(f"import {job_id} ended {job['status']}, not failed")
    if outcome.seconds_to_detect > REAP_WITHIN:
        outcome.problems.append(
            f"import {job_id} was failed {outcome.seconds_to_detect:.0f} s after its worker died; the stale window "
            f"is {STALE_AFTER:.0f} s, swept every {SWEEP_EVERY:.0f} s"
        )
    if not job.get("error"):
        outcome.problems.append(f"import {job_id} failed without saying why")
    outcome.problems.extend(_nothing_left(platform, job_id))
    return outcome


def _nothing_left(platform: Platform, job_id: int) -> list[str]:
    left = platform.stack.sql("SELECT count(*) FROM reviews_review WHERE import_job_id = %s", job_id)[0][0]
    staged = _staged_rows(platform, job_id)
    problems = []
    if left:
        problems.append(f"{left} reviews of the unfinished import {job_id} stayed in the database")
    if staged:
        problems.append(f"{staged} staged rows of the unfinished import {job_id} stayed in the database")
    return problems


def _staged_rows(platform: Platform, job_id: int) -> int:
    exists = platform.stack.sql("SELECT to_regclass('reviews_stagedreview') IS NOT NULL")[0][0]
    if not exists:
        return 0
    return int(platform.stack.sql("SELECT count(*) FROM reviews_stagedreview WHERE job_id = %s", job_id)[0][0])


def import_cancelled(platform: Platform) -> Outcome:
    """Two running imports are cancelled, one through the API and one with ``manage.py cancel_import``."""
    return healing(platform, lambda: _import_cancelled(platform))


def _import_cancelled(platform: Platform) -> Outcome:
    outcome = Outcome(scenario="running imports cancelled (API and command)")
    by_api = _accepted(platform.submit_import(reviews_jsonl(CANCEL_IMPORT_ROWS, tag="cancel-api", labelled=False), filename="cancel-api.jsonl"))
    by_command = _accepted(platform.submit_import(reviews_jsonl(CANCEL_IMPORT_ROWS, tag="cancel-cmd", labelled=False), filename="cancel-cmd.jsonl"))
    platform.wait_running("import", by_api)
    platform.wait_running("import", by_command)
    asked = time.monotonic()
    command = subprocess.run(
        [sys.executable, "manage.py", "cancel_import", str(by_command)],
        cwd=REPO_ROOT, env=platform.stack.env, capture_output=True, text=True, timeout=120,
    )
    outcome.facts.append(f"manage.py cancel_import {by_command} exited {command.returncode}: {(command.stdout + command.stderr).strip()[-300:]}")
    if command.returncode != 0:
        outcome.problems.append(f"manage.py cancel_import {by_command} exited {command.returncode}: {command.stderr.strip()[-300:]}")
    answer = platform.call("POST", f"/api/imports/{by_api}/cancel/")
    count_answers(outcome, [answer])
    outcome.facts.append(f"POST /api/imports/{by_api}/cancel/ answered {answer.status}: {answer.body[:200]}")
    if answer.status not in (200, 202):
        outcome.problems.append(f"POST /api/imports/{by_api}/cancel/ answered {answer.status}: {answer.body[:200]}")
    for job_id in (by_api, by_command):
        try:
            job = platform.wait_job("import", job_id, timeout=60)
        except HarnessError:
            outcome.problems.append(f"import {job_id} was still {platform.job('import', job_id)} 60 s after it was cancelled")
            continue
        if job["status"] != "cancelled":
            outcome.problems.append(f"import {job_id} ended {job['status']} after it was cancelled: {job.get('error')}")
        outcome.problems.extend(_nothing_left(platform, job_id))
    outcome.seconds_to_detect = time.monotonic() - asked
    return outcome


# --- The same message delivered twice ----------------------------------------------------------------------


def duplicate_delivery(platform: Platform) -> Outcome:
    """The message of a running training run is delivered again, to another worker, and once more after it ends."""
    return healing(platform, lambda: _duplicate_delivery(platform))


def _duplicate_delivery(platform: Platform) -> Outcome:
    from celery import Celery
    from kombu import Queue

    stack = platform.stack
    outcome = Outcome(scenario="the same training message delivered three times")
    run_id = _accepted(platform.submit_training(**platform.tiny_transformer(epochs=2)))
    platform.wait_running("training", run_id)
    task_id = stack.sql("SELECT celery_task_id FROM training_trainingrun WHERE id = %s", run_id)[0][0]
    sender = Celery("faults")
    sender.conf.task_queues = (Queue("default"), Queue("gpu"))

    def deliver_again() -> None:
        # An explicit connection: Celery prefers CELERY_BROKER_URL from the environment to an app's own broker.
        with sender.connection_for_write(stack.redis.url) as connection:
            sender.send_task("training.run_training", args=[run_id], queue="gpu", task_id=task_id, connection=connection)

    deliver_again()
    job = platform.wait_job("training", run_id, timeout=240)
    deliver_again()

    def received() -> int:
        return sum(worker.log().count(f"[{task_id}] received") for worker in stack.workers)

    try:
        wait_for(lambda: received() >= 3, timeout=60, what="the workers to receive the three messages")
    except HarnessError:
        outcome.problems.append(f"the workers received {received()} of the 3 messages: the duplicates were not delivered")
    time.sleep(SWEEP_EVERY)  # a worker that took the last duplicate has had time to act on it, if it were to
    job = platform.job("training", run_id) or job
    outcome.facts.append(f"training run {run_id} ended {job['status']}; its message {task_id} was received {received()} times")
    problem = job_problem("training", job)
    outcome.problems.extend([problem] if problem else _complete(platform, "training", job, expected_rows=0))
    claims = sum(worker.log().count(f"TrainingRun {run_id} is not queued") for worker in stack.workers)
    outcome.facts.append(f"{claims} deliveries were turned away as 'not queued'")
    return outcome
