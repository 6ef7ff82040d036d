"""Time to serve the next review to label, with 100,000 reviews and 10 analysts asking at the same moment.

A fresh PostgreSQL database gets IMDb's 100,000 reviews (or as many synthetic ones when the parquet
copy is missing), a current model version with a batch prediction of every review, and one queue over
all of them, most uncertain first, worked by 10 analysts. First one analyst works alone (the cost of a
request with nobody to wait for: ``service_alone``, ``page_alone``). Then 10 processes, one per
analyst, each with its own database connection, go round after round; in each round all 10 ask at the
same instant (a barrier), so every request races the other nine:

- **service**: ``assignment_next`` (claim the next review), then the label is recorded (not timed);
- **page**: the labelling page's HTMX request, as the browser sends it when the analyst presses a key:
  record the label and render the next review (session auth, middleware, template), through Django's
  test client in the analyst's process (no network);
- **page_paced**: the same request without the barrier: each analyst reads each review for a random
  0 to 2 seconds (1 s on average, far quicker than people read reviews) before pressing the next key,
  so requests overlap as they happen to.

Afterwards it checks that no review went to two analysts, and shows PostgreSQL's plans: EXPLAIN
ANALYZE of the query that picks the next review, and EXPLAIN of every SELECT one page request makes,
flagging any sequential scan on the big tables. Last, on the same data, each statement of
apps/labelling/sql.py runs against its ORM version in apps/labelling/sql_orm.py, one analyst alone,
``--compare-calls`` times each, interleaved (``sql_against_orm``: median and p95 ms of both, and the
ratio orm/sql). Results go to bench/results/labelling_next.json, plus one line on stdout.

    .venv/bin/python bench/labelling_next.py [--rounds 100] [--analysts 10] [--reviews 100000] [--compare-calls 200]

BENCH_POSTGRES_URL names the server (default postgres://postgres@127.0.0.1:5432), where a database
``labeldb_bench`` is created and dropped. IMDB_DIR points at the parquet copy (default ../shared/data/imdb).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results" / "labelling_next.json"
POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "labeldb_bench")
IMDB_DIR = Path(os.environ.get("IMDB_DIR", REPO_ROOT.parent / "shared" / "data" / "imdb"))
QUEUE_NAME = "bench: all reviews, most uncertain first"
BIG_TABLES = (
    "reviews_review",
    "labelling_queueitem",
    "labelling_assignment",
    "labelling_annotation",
    "labelling_resolution",
    "predictions_prediction",
)
TARGET_P95_MS = 50.0
FORM = "application/x-www-form-urlencoded"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=100, help="rounds per phase; each analyst asks once a round")
    parser.add_argument("--analysts", type=int, default=10)
    parser.add_argument("--reviews", type=int, default=100_000)
    parser.add_argument("--paced-requests", type=int, default=40, help="requests per analyst in the paced phase")
    parser.add_argument("--think-seconds", type=float, default=1.0, help="mean reading time in the paced phase")
    parser.add_argument("--compare-calls", type=int, default=200, help="calls of each statement, SQL and ORM each")
    parser.add_argument(
        "--smoke", action="store_true",
        help="every phase on 2,000 reviews, 3 analysts, 4 rounds, no reading time; no results written",
    )  # fmt: skip
    args = parser.parse_args()
    if args.smoke:
        args.reviews, args.analysts, args.rounds, args.paced_requests, args.think_seconds = 2000, 3, 4, 3, 0.0
        args.compare_calls = 20

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-labelling-") as var_dir, postgres_database() as database_url:
        env = {
            **{key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "VAR_DIR", "DEBUG"}},
            "SECRET_KEY": "bench-only-secret-key",
            "DEBUG": "0",
            "DATABASE_URL": database_url,
            "VAR_DIR": var_dir,
            "ALLOWED_HOSTS": "testserver,localhost",
            "LOG_LEVEL": "WARNING",
            # No warming thread: it would hold a connection to the database the bench drops at the end.
            "PREDICTION_WARM_SECONDS": "0",
        }
        for command in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"]):
            subprocess.run([sys.executable, "manage.py", *command], cwd=REPO_ROOT, env=env, check=True)
        os.environ.update(env)
        setup = _in_django(prepare, args.reviews, args.analysts)
        # One analyst alone first: what a request costs with nobody to wait for.
        phases = {f"{phase}_alone": run_phase(phase, 1, args.rounds // 2, alone=True) for phase in ("service", "page")}
        phases.update({phase: run_phase(phase, args.analysts, args.rounds) for phase in ("service", "page")})
        phases["page_paced"] = run_phase("page_paced", args.analysts, args.paced_requests, think=args.think_seconds)
        checks = _in_django(check_and_explain, args.analysts)
        against = _in_django(sql_against_orm, args.analysts, args.compare_calls)

    results = {
        "what": "time to serve the next review to label; all analysts ask at the same instant each round",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "analysts": args.analysts,
        "rounds": args.rounds,
        "target_p95_ms": TARGET_P95_MS,
        # Other work on the machine (other benchmarks, test suites) shows up in the latencies.
        "load_average_1_5_15_min": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()],
        },
        **setup,
        **phases,
        **checks,
        "sql_against_orm": against,
    }
    if not args.smoke:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    service, page, paced = (
        phases["service"]["next_ms"], phases["page"]["request_ms"], phases["page_paced"]["request_ms"]
    )
    alone = phases["service_alone"]["next_ms"], phases["page_alone"]["request_ms"]
    print(
        f"next review with {setup['reviews']:,} reviews: one analyst alone, service p95 {alone[0]['p95']:.1f} ms, "
        f"page p95 {alone[1]['p95']:.1f} ms; {args.analysts} analysts all asking at once, "
        f"service p50 {service['p50']:.1f} ms, p95 {service['p95']:.1f} ms, "
        f"page (label + next) p50 {page['p50']:.1f} ms, p95 {page['p95']:.1f} ms; "
        f"paced, page p50 {paced['p50']:.1f} ms, p95 {paced['p95']:.1f} ms; "
        f"duplicates {checks['duplicate_assignments']}; "
        f"sequential scans on big tables: {len(checks['sequential_scans_on_big_tables'])}; orm/sql median "
        + ", ".join(f"{name} {pair['ratio_orm_to_sql_median']:.2f}" for name, pair in against["statements"].items())
        + " "
        + ("(smoke, no results written)" if args.smoke else f"-> {RESULTS.relative_to(REPO_ROOT)}")
    )


# --- Setup -----------------------------------------------------------------------------------------------


def prepare(review_count: int, analyst_count: int) -> dict[str, Any]:
    """Reviews, a current model with a batch prediction of each, analysts, and the queue."""
    from django.contrib.auth.models import User
    from django.db import connection

    from apps.common.roles import ANALYST, role_group
    from apps.labelling.choices import QueuePool, QueueStrategy
    from apps.labelling.models import QueueItem
    from apps.labelling.services import queue_create
    from apps.reviews.models import Review

    timings: dict[str, float] = {}
    started = time.perf_counter()
    source = _import_reviews(review_count)
    timings["import_reviews_s"] = round(time.perf_counter() - started, 2)

    started = time.perf_counter()
    _predict_everything()
    timings["store_predictions_s"] = round(time.perf_counter() - started, 2)

    group = role_group(ANALYST)
    analysts = []
    for index in range(analyst_count + 1):
        user = User.objects.create_user(f"bench-analyst-{index}")
        user.groups.add(group)
        analysts.append(user)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    started = time.perf_counter()
    queue, order = queue_create(
        name=QUEUE_NAME, pool=QueuePool.ALL, strategy=QueueStrategy.UNCERTAINTY, annotators=analysts
    )
    timings["order_queue_s"] = round(time.perf_counter() - started, 2)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "reviews": Review.objects.count(),
        "review_source": source,
        "queue_items": QueueItem.objects.filter(queue=queue).count(),
        "predicted": order.predicted,
        "setup": timings,
    }


def _import_reviews(count: int) -> str:
    from apps.reviews.services import review_import

    if count == 100_000 and IMDB_DIR.is_dir():
        review_import(source=str(IMDB_DIR))
        return f"IMDb parquet ({IMDB_DIR})"
    from django.db import connection

    rng = random.Random(7)
    words = "the a film movie plot acting was great terrible boring moving score ending cast script not very".split()
    with connection.cursor() as cursor, cursor.copy(
        "COPY reviews_review (text, source, external_id, gold_label, origin_split, created_at) FROM STDIN"
    ) as copy:
        for number in range(count):
            text = " ".join(rng.choice(words) for _ in range(180)) + f" ({number})"
            label = (number % 2) if number % 4 < 2 else None
            copy.write_row((text, "bench", str(number), label, "", "2026-01-01T00:00:00Z"))
    return "synthetic"


def _predict_everything() -> None:
    """A current model version and one batch prediction of every review (probabilities drawn at random)."""
    from django.db import connection

    from apps.common.choices import JobStatus
    from apps.predictions.models import BatchPredictionJob
    from apps.registry.models import ModelVersion

    version = ModelVersion.objects.create(kind="tfidf", artifact_path="bench-model", is_current=True)
    job = BatchPredictionJob.objects.create(model_version=version, pool="all", status=JobStatus.SUCCEEDED)
    rng = random.Random(11)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, left(text, 200) FROM reviews_review ORDER BY id")
        rows = cursor.fetchall()
        with cursor.copy(
            "COPY predictions_prediction (text, review_id, model_version_id, label, confidence, prob_negative, "
            "prob_positive, source, batch_job_id, created_at) FROM STDIN"
        ) as copy:
            for review_id, text in rows:
                positive = rng.random()
                copy.write_row(
                    (text, review_id, version.pk, int(positive >= 0.5), max(positive, 1 - positive), 1 - positive,
                     positive, "batch", job.pk, "2026-01-01T00:00:00Z")
                )  # fmt: skip


# --- The timed phases ------------------------------------------------------------------------------------


def run_phase(phase: str, analysts: int, rounds: int, think: float = 0.0, alone: bool = False) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(analysts)
    results = context.Queue()
    processes = [
        context.Process(target=analyst, args=(phase, index, rounds, barrier, results, think))
        for index in range(analysts)
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    samples: list[float] = []
    for _ in processes:
        outcome = results.get(timeout=900)
        if "error" in outcome:
            raise SystemExit(f"analyst {outcome['analyst']} failed: {outcome['error']}")
        samples.extend(outcome["ms"])
    for process in processes:
        process.join()
    seconds = time.perf_counter() - started
    key = "next_ms" if phase == "service" else "request_ms"
    measured = {
        "service": "assignment_next() in each analyst's process, all analysts at the same instant",
        "page": "POST /labelling/queues/<id>/label/ with HX-Request (record the label, render the next review), "
        "all analysts at the same instant",
        "page_paced": f"the same request, each analyst reading each review for 0 to {2 * think:g} s first",
    }[phase]
    if alone:
        measured = measured.replace("all analysts at the same instant", "one analyst alone")
    return {"measured": measured, "requests": len(samples), key: _summary(samples), "wall_s": round(seconds, 1)}


def analyst(phase: str, index: int, rounds: int, barrier: Any, results: Any, think: float) -> None:
    """One analyst in a process of its own: rounds of asking at the same instant as the others."""
    try:
        _setup_django()
        from django.contrib.auth.models import User
        from django.test import Client

        from apps.labelling.models import LabellingQueue
        from apps.labelling.services import annotation_create, assignment_next

        user = User.objects.get(username=f"bench-analyst-{index}")
        queue = LabellingQueue.objects.get(name=QUEUE_NAME)
        rng = random.Random(index)
        samples: list[float] = []
        if phase == "service":
            for round_number in range(rounds + 1):
                barrier.wait(timeout=120)
                started = time.perf_counter()
                assignment = assignment_next(queue=queue, user=user)
                elapsed = (time.perf_counter() - started) * 1000
                if round_number:  # the first round warms the connection up
                    samples.append(elapsed)
                label = rng.choice(["positive", "negative"])
                annotation_create(queue=queue, user=user, review_id=assignment.review_id, label=label)
        else:
            client = Client()
            client.force_login(user)
            url = f"/labelling/queues/{queue.pk}/label/"
            page = client.get(url).content.decode()
            barrier.wait(timeout=120)
            for round_number in range(rounds + 1):
                review_id = re.search(r'name="review" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
                if phase == "page":
                    barrier.wait(timeout=120)
                else:
                    time.sleep(rng.uniform(0, 2 * think))
                started = time.perf_counter()
                body = urlencode({"review": review_id, "action": rng.choice(["positive", "negative"])})
                # Form-encoded, as HTMX sends it.
                response = client.post(url, body, content_type=FORM, HTTP_HX_REQUEST="true")
                elapsed = (time.perf_counter() - started) * 1000
                page = response.content.decode()
                if response.status_code != 200 or 'role="alert"' in page:
                    raise RuntimeError(f"round {round_number}: {response.status_code} {page[:500]}")
                if round_number:
                    samples.append(elapsed)
        results.put({"analyst": index, "ms": samples})
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which stops the bench
        results.put({"analyst": index, "error": repr(error)})


# --- Checks and plans ------------------------------------------------------------------------------------


def check_and_explain(analysts: int) -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from apps.labelling.models import Annotation, Assignment, LabellingQueue
    from apps.labelling import sql as labelling_sql
    from apps.labelling.services import assignment_next

    queue = LabellingQueue.objects.get(name=QUEUE_NAME)
    duplicates = (
        Assignment.objects.filter(queue=queue, skipped=False)
        .values("review_id")
        .annotate(n=Count("id"))
        .filter(n__gt=queue.overlap)
        .count()
    )
    labelled = Annotation.objects.filter(queue=queue).count()

    # A fresh analyst, so the plan is the one every new claim runs.
    user = User.objects.get(username=f"bench-analyst-{analysts}")
    sql, params = labelling_sql.next_item(queue_id=queue.pk, overlap=queue.overlap, user_id=user.pk, now=timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        next_plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)

    client = Client()
    client.force_login(user)
    url = f"/labelling/queues/{queue.pk}/label/"
    review_id = assignment_next(queue=queue, user=user).review_id
    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            url, urlencode({"review": review_id, "action": "positive"}), content_type=FORM, HTTP_HX_REQUEST="true"
        )
    assert response.status_code == 200, response.content[:500]
    request_plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT"):
                request_plans.append({"sql": sql, "plan": "(a write: not explained)"})
                continue
            cursor.execute(f"EXPLAIN {sql}")
            request_plans.append({"sql": sql, "plan": "\n".join(row[0] for row in cursor.fetchall())})
    seq_scans = sorted(
        {
            f"{table} in: {entry['sql'][:120]}"
            for entry in [{"sql": "next review", "plan": next_plan}, *request_plans]
            for table in BIG_TABLES
            if re.search(rf"Seq Scan on {table}\b", entry["plan"])
        }
    )
    return {
        "duplicate_assignments": duplicates,
        "labels_recorded": labelled,
        "next_review_plan": next_plan,
        "page_request_queries": len(request_plans),
        "page_request_plans": request_plans,
        "sequential_scans_on_big_tables": seq_scans,
    }


# --- SQL against ORM -------------------------------------------------------------------------------------


def sql_against_orm(analysts: int, calls: int) -> dict[str, Any]:
    """Each statement of apps.labelling.sql and its ORM version, ``calls`` times each, interleaved, same data."""
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.utils import timezone

    from apps.labelling import sql, sql_orm
    from apps.labelling.models import Assignment, LabellingQueue

    queue = LabellingQueue.objects.get(name=QUEUE_NAME)
    # The analyst of the plans: one label and one open hold in the queue.
    user = User.objects.get(username=f"bench-analyst-{analysts}")
    hold = Assignment.objects.filter(queue=queue, user=user).order_by("-assigned_at").first()
    assert hold is not None
    review_id, now, since = hold.review_id, timezone.now(), timezone.now() - timedelta(hours=12)

    def next_item(module: Any) -> Any:
        with connection.cursor() as cursor:
            cursor.execute(*module.next_item(queue_id=queue.pk, overlap=queue.overlap, user_id=user.pk, now=now))
            return cursor.fetchone()

    def live_count(module: Any) -> Any:
        with connection.cursor() as cursor:
            return module.live_count(cursor, queue_id=queue.pk, review_id=review_id, now=now)

    statements = {
        "next_item": next_item,
        "live_count": live_count,
        "open_holds": lambda module: module.open_holds(queue_id=queue.pk, user_id=user.pk),
        "lock_items": lambda module: module.lock_items(review_id),
        "label_state": lambda module: module.label_state(queue_id=queue.pk, review_id=review_id, user_id=user.pk),
        "page_state": lambda module: module.page_state(user_id=user.pk, since=since, review_id=review_id),
    }
    measured: dict[str, Any] = {}
    for name, call in statements.items():
        samples: dict[str, list[float]] = {"sql": [], "orm": []}
        # One transaction per statement, as the service runs them (the locks need one), rolled back after.
        with transaction.atomic():
            same = call(sql) == call(sql_orm)  # and warms both up
            for number in range(calls):
                for label in ("sql", "orm") if number % 2 == 0 else ("orm", "sql"):
                    module = sql if label == "sql" else sql_orm
                    started = time.perf_counter()
                    call(module)
                    samples[label].append((time.perf_counter() - started) * 1000)
            transaction.set_rollback(True)
        if not same:
            raise SystemExit(f"{name}: the ORM version returns something else than the SQL one")
        summary = {label: _summary(values) for label, values in samples.items()}
        measured[name] = {
            "same_result": same,
            "sql_ms": {"median": summary["sql"]["p50"], "p95": summary["sql"]["p95"]},
            "orm_ms": {"median": summary["orm"]["p50"], "p95": summary["orm"]["p95"]},
            "ratio_orm_to_sql_median": round(statistics.median(samples["orm"]) / statistics.median(samples["sql"]), 2),
            "ratio_orm_to_sql_p95": round(summary["orm"]["p95"] / summary["sql"]["p95"], 2),
        }
    return {
        "measured": "each statement of apps/labelling/sql.py and its ORM version (apps/labelling/sql_orm.py), "
        f"{calls} calls each, interleaved, one analyst alone, in one transaction per statement, after the phases; "
        "times include building the statement, running it and reading its rows",
        "calls": calls,
        "statements": measured,
    }


# --- Helpers ---------------------------------------------------------------------------------------------


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def percentile(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)

    return {
        "p50": percentile(0.50),
        "p95": percentile(0.95),
        "p99": percentile(0.99),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


def _setup_django() -> None:
    sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sentimentsite.settings")
    import django

    django.setup()


def _in_django(function: Any, *args: Any) -> Any:
    """Run ``function`` in a fresh process with Django set up, so the parent holds no connection."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_call, (function.__name__, args))


def _call(name: str, args: tuple[Any, ...]) -> Any:
    _setup_django()
    return globals()[name](*args)


class postgres_database:
    """A database of its own on the PostgreSQL server, dropped afterwards."""

    def __enter__(self) -> str:
        self._execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)", f"CREATE DATABASE {BENCH_DATABASE}")
        return f"{POSTGRES_SERVER}/{BENCH_DATABASE}"

    def __exit__(self, *exc_info: object) -> None:
        self._execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")

    def _execute(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement)


if __name__ == "__main__":
    main()
