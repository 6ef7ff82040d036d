"""A batch prediction job over many reviews on one worker, on two, and on two with one SIGKILLed midway.

A fresh PostgreSQL database gets N distinct unlabelled reviews (IMDb's texts repeated, each copy marked
with its number so every row differs), a TF-IDF model trained on 5,000 labelled IMDb reviews through
the platform, and then one batch job over the N reviews per scenario, each on real Celery workers
(solo pool, as many processes as the scenario says, one core each at most on this machine):

- ``one_worker`` and ``two_workers``: reviews per second from the job's start to its end, and the ratio;
- ``two_workers_one_killed``: one worker SIGKILLed once 40% of the chunks are done; the job must still
  end with exactly N predictions, none twice; how many chunks were redone;
- each worker's peak memory (VmHWM), which must not grow with N (chunks, not lists of ids).

    .venv/bin/python bench/batch_scale.py [--reviews 1000000] [--chunk 2000] [--results FILE] [--smoke]

BENCH_POSTGRES_URL names the server (default postgres://postgres@127.0.0.1:5432), where a database
``batchscale_bench`` is created and dropped; BENCH_BROKER_URL the Redis database the workers use
(default redis://127.0.0.1:6379/3). Results: bench/results/batch_scale.json and a line of text.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
RESULTS = REPO_ROOT / "bench" / "results" / "batch_scale.json"
POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/3")
DATABASE = "batchscale_bench"
IMDB_DIR = Path(os.environ.get("IMDB_DIR", REPO_ROOT.parent / "shared" / "data" / "imdb"))
TARGET_RATIO = 1.6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reviews", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=2_000, help="reviews per chunk (BATCH_CHUNK_SIZE)")
    parser.add_argument("--smoke", action="store_true", help="20,000 reviews in chunks of 500; no results written")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the figures go (default %(default)s)")
    args = parser.parse_args()
    if args.smoke:
        args.reviews, args.chunk = 20_000, 500

    _execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", f"CREATE DATABASE {DATABASE}")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-batch-") as var_dir:
            env = {
                **os.environ,
                "SECRET_KEY": "bench-only-secret-key",
                "DEBUG": "0",
                "DATABASE_URL": f"{POSTGRES_SERVER}/{DATABASE}",
                "CELERY_BROKER_URL": BROKER,
                "VAR_DIR": var_dir,
                "ARTIFACT_ROOT": str(Path(var_dir) / "artifacts"),
                "BATCH_CHUNK_SIZE": str(args.chunk),
                "RUN_HEARTBEAT_SECONDS": "2",
                "RUN_STALE_AFTER_SECONDS": "10",
                "PREDICTION_SCREEN_CONFIDENCE": "0",
                "LOG_LEVEL": "WARNING",
                "TORCH_THREADS": "1",
                "DJANGO_SETTINGS_MODULE": "sentimentsite.settings",
            }
            subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO_ROOT, env=env, check=True)
            os.environ.update(env)
            import django

            django.setup()
            version_id = prepare(args.reviews)
            scenarios = {
                "one_worker": run_job(version_id, workers=1, var_dir=Path(var_dir), expected=args.reviews),
                "two_workers": run_job(version_id, workers=2, var_dir=Path(var_dir), expected=args.reviews),
                "two_workers_one_killed": run_job(
                    version_id, workers=2, var_dir=Path(var_dir), expected=args.reviews, kill_at=0.4
                ),
            }
    finally:
        _execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")

    ratio = scenarios["two_workers"]["reviews_per_second"] / scenarios["one_worker"]["reviews_per_second"]
    killed = scenarios["two_workers_one_killed"]
    result = {
        "measured": "one batch job of the TF-IDF model over the reviews, on real Celery workers (solo pool) and PostgreSQL",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_before": os.getloadavg()},
        "reviews": args.reviews,
        "chunk_size": args.chunk,
        "scenarios": scenarios,
        "two_vs_one_ratio": round(ratio, 2),
        "target_ratio": TARGET_RATIO,
        "held": {
            "ratio": ratio >= TARGET_RATIO,
            "exactly_once_after_kill": killed["predictions"] == killed["distinct_reviews"] == args.reviews,
        },
    }
    line = (
        f"batch_scale: {args.reviews:,} reviews, 1 worker {scenarios['one_worker']['reviews_per_second']:.0f}/s, "
        f"2 workers {scenarios['two_workers']['reviews_per_second']:.0f}/s ({ratio:.2f}x, target {TARGET_RATIO}x); "
        f"one of 2 killed: {killed['status']}, {killed['predictions']:,} predictions ({killed['distinct_reviews']:,} "
        f"distinct), {killed['chunks_redone']} chunk(s) redone; peak worker memory "
        f"{max(max(s['peak_rss_mb_per_worker']) for s in scenarios.values()):.0f} MB"
    )
    print(line)
    if not args.smoke:
        args.results.write_text(json.dumps({**result, "summary": line}, indent=2) + "\n")


def prepare(count: int) -> int:
    """N marked copies of IMDb's texts, unlabelled, and a TF-IDF version trained through the platform."""
    import pyarrow.parquet as pq
    from django.db import connection

    from apps.reviews.models import Review
    from apps.reviews.snapshots import snapshot_create
    from apps.training.runners import training_run_execute
    from apps.training.services import training_run_create

    texts = []
    for name in ("train", "test", "unsupervised"):
        texts += pq.read_table(IMDB_DIR / f"{name}.parquet", columns=["text"]).column("text").to_pylist()
    labelled = pq.read_table(IMDB_DIR / "train.parquet", columns=["text", "label"]).to_pylist()[::5]
    Review.objects.bulk_create(
        Review(text=row["text"], source="imdb-sample", external_id=str(n), gold_label=row["label"])
        for n, row in enumerate(labelled)
    )
    started = time.perf_counter()
    with connection.cursor() as cursor, cursor.copy(
        "COPY reviews_review (text, source, external_id, origin_split, created_at) FROM STDIN"
    ) as copy:
        for n in range(count):
            copy.write_row((f"{texts[n % len(texts)]} [copy {n}]", "bench", str(n), "", "now"))
    print(f"inserted {count:,} reviews in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    snapshot = snapshot_create(name="bench sample")
    run = training_run_create(snapshot=snapshot, kind="tfidf", enqueue=False)
    run = training_run_execute(run_id=run.pk, worker="bench")
    assert run is not None and run.status == "succeeded", run and run.error
    return run.model_version.pk


def run_job(version_id: int, *, workers: int, var_dir: Path, expected: int, kill_at: float | None = None) -> dict[str, Any]:
    from django.db import connection

    from apps.predictions.batch import batch_prediction_job_create
    from apps.predictions.models import BatchChunk, BatchPredictionJob
    from apps.registry.models import ModelVersion
    from sentimentsite.celery import app

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE predictions_prediction, predictions_batchchunk")
    with app.connection_for_write() as broker:
        for queue in ("default", "gpu"):
            broker.default_channel.queue_purge(queue)
    processes = [_start_worker(n, var_dir) for n in range(workers)]
    try:
        started = time.perf_counter()
        job = batch_prediction_job_create(model_version=ModelVersion.objects.get(pk=version_id), pool="unlabelled")
        killed_pid = None
        peaks = {process.pid: 0 for process in processes}
        while True:
            for process in processes:
                peaks[process.pid] = max(peaks[process.pid], _peak_rss_mb(process.pid))
            job.refresh_from_db()
            if job.status in ("succeeded", "failed", "cancelled"):
                break
            if kill_at is not None and killed_pid is None and job.total and job.processed >= kill_at * job.total:
                killed_pid = processes[0].pid
                processes[0].send_signal(signal.SIGKILL)
            time.sleep(0.5)
        seconds = time.perf_counter() - started
        chunks = BatchChunk.objects.filter(job=job)
        attempts = sum(chunks.values_list("attempts", flat=True))
        predictions = job.predictions.count()
        return {
            "workers": workers,
            "status": job.status,
            "error": job.error,
            "seconds": round(seconds, 1),
            "reviews_per_second": round(expected / seconds, 1),
            "predictions": predictions,
            "distinct_reviews": job.predictions.values("review").distinct().count(),
            "chunks": chunks.count(),
            "chunks_redone": attempts - chunks.count(),
            "worker_processes_seen": chunks.exclude(worker="").values("worker").distinct().count(),
            "killed_worker_pid": killed_pid,
            "peak_rss_mb_per_worker": [round(peak) for peak in peaks.values()],
            "job": BatchPredictionJob.objects.filter(pk=job.pk).values_list("log_tail", flat=True).first()[-600:],
        }
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()


def _start_worker(number: int, var_dir: Path) -> subprocess.Popen[bytes]:
    log = (var_dir / f"worker-{number}.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "sentimentsite", "worker", "-Q", "default,gpu", "--pool", "solo",
            "--without-gossip", "--without-mingle", "-n", f"bench{number}-{os.getpid()}@%h", "--loglevel", "INFO",
        ],
        cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while b" ready." not in (var_dir / f"worker-{number}.log").read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((var_dir / f"worker-{number}.log").read_text(errors="replace"))
        time.sleep(0.2)
    return process


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _execute(*statements: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


if __name__ == "__main__":
    main()
