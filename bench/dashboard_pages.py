"""Server time and query count of each dashboard page on PostgreSQL, at two sizes of data.

Fills a fresh database with reviews (IMDb from ../shared/data/imdb when it is there, generated text
otherwise), human labels, snapshots, training runs with their epochs and test predictions, model
versions with promotions, and stored predictions; first a quarter of the full size, then all of it:
100,000 reviews, 20 runs, 50,000 predictions. At each size every page is requested through Django's
test client as a signed-in ML admin (the role that sees the most): a few warm-up requests, then
REPEATS timed ones (p50, p95, max in ms), and the queries of one request counted. The query counts must
be the same at both sizes. Results go to bench/results/dashboard_pages.json, plus a line per page.

    .venv/bin/python bench/dashboard_pages.py [--repeats N] [--keep] [--smoke]

--smoke fills 1,000 then 2,000 reviews, times each page 3 times and writes no results (CI: `make bench-smoke`).

BENCH_POSTGRES_URL names the server (default postgres://postgres@127.0.0.1:5432); the database
``bench_dashboard`` is created (dropped first if it exists) and dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
IMDB_DIR = REPO_ROOT.parent / "shared" / "data" / "imdb"
RESULTS = REPO_ROOT / "bench" / "results" / "dashboard_pages.json"
POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
DATABASE = "bench_dashboard"
SIZES = {
    "quarter": {"reviews": 25_000, "runs": 5, "predictions": 12_500},
    "full": {"reviews": 100_000, "runs": 20, "predictions": 50_000},
}
SMOKE_SIZES = {
    "quarter": {"reviews": 1_000, "runs": 3, "predictions": 500},
    "full": {"reviews": 2_000, "runs": 4, "predictions": 1_000},
}
TARGET_P95_MS = 150


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the database bench_dashboard afterwards")
    parser.add_argument("--smoke", action="store_true", help="small sizes, 3 repeats, no results written")
    options = parser.parse_args()
    sizes = SMOKE_SIZES if options.smoke else SIZES
    database = f"{DATABASE}_smoke" if options.smoke else DATABASE
    database_url = f"{POSTGRES_SERVER}/{database}"
    _psql(f"DROP DATABASE IF EXISTS {database}")
    _psql(f"CREATE DATABASE {database}")
    artifacts = tempfile.mkdtemp(prefix="bench-dashboard-artifacts-")
    os.environ.update(
        DATABASE_URL=database_url, SECRET_KEY="bench-only-secret-key", DEBUG="0", ARTIFACT_ROOT=artifacts,
        # Its versions have no model files; no warming thread (it would also hold a connection to the database).
        PREDICTION_WARM_SECONDS="0",
        DJANGO_SETTINGS_MODULE="sentimentsite.settings",
    )  # fmt: skip
    sys.path.insert(0, str(REPO_ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    try:
        results = run(repeats=3 if options.smoke else options.repeats, sizes=sizes)
    finally:
        from django.db import connections

        connections.close_all()
        if not options.keep:
            _psql(f"DROP DATABASE IF EXISTS {database}")
    if not options.smoke:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    full = results["sizes"]["full"]["pages"]
    for name, page in full.items():
        quarter = results["sizes"]["quarter"]["pages"][name]
        print(
            f"{name:<28} p50 {page['p50_ms']:6.1f} ms  p95 {page['p95_ms']:6.1f} ms  "
            f"queries {quarter['queries']} -> {page['queries']}"
        )
    worst = max(full.values(), key=lambda page: page["p95_ms"])
    print(
        f"dashboard pages at {sizes['full']['reviews']:,} reviews: worst p95 {worst['p95_ms']:.1f} ms "
        f"(target {TARGET_P95_MS} ms); query counts constant across sizes: {results['queries_constant']} "
        + ("(smoke, no results written)" if options.smoke else f"-> {RESULTS.relative_to(REPO_ROOT)}")
    )


def _psql(sql: str) -> None:
    subprocess.run(["psql", f"{POSTGRES_SERVER}/postgres", "-q", "-c", sql], check=True, capture_output=True)


def run(*, repeats: int, sizes: dict[str, dict[str, int]]) -> dict[str, Any]:
    from django.db import connection

    results: dict[str, Any] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "postgresql": connection.cursor().connection.info.server_version,
        "measured": "Django test client, signed in as an ML admin, DEBUG off; server time of the whole request",
        "repeats": repeats,
        "review_text": "IMDb (shared/data/imdb)" if IMDB_DIR.exists() else "generated",
        "sizes": {},
    }
    from django.test.utils import setup_test_environment

    setup_test_environment()
    filler = Filler()
    for name, size in sizes.items():
        started = time.perf_counter()
        filler.fill_to(**size)
        fill_seconds = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        results["sizes"][name] = {
            "rows": filler.counts(),
            "fill_seconds": round(fill_seconds, 1),
            "pages": measure(filler.urls(), repeats=repeats),
        }
    quarter, full = results["sizes"]["quarter"]["pages"], results["sizes"]["full"]["pages"]
    results["queries_constant"] = all(quarter[name]["queries"] == full[name]["queries"] for name in full)
    results["worst_p95_ms"] = max(page["p95_ms"] for page in full.values())
    results["target_p95_ms"] = TARGET_P95_MS
    return results


def measure(urls: dict[str, tuple[str, dict[str, str]]], *, repeats: int) -> dict[str, dict[str, Any]]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client, override_settings

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-admin"))
    pages = {}
    storages = {"staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    with override_settings(STORAGES={"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}, **storages}):
        for name, (url, headers) in urls.items():
            for _ in range(3):
                response = client.get(url, **headers)
                if response.status_code not in (200, 286):
                    raise RuntimeError(f"{name} ({url}) answered {response.status_code}")
            queries: list[str] = []

            def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
                queries.append(sql)
                return execute(sql, params, many, context)

            with connection.execute_wrapper(count):
                client.get(url, **headers)
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                client.get(url, **headers)
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            pages[name] = {
                "url": url,
                "queries": len(queries),
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 1),
                "max_ms": round(times[-1], 1),
                "bytes": len(response.content),
            }
    return pages


class Filler:
    """Grows the database to a size, keeping what it made before (so the second size adds to the first)."""

    def __init__(self) -> None:
        from apps.common.roles import ANALYST, ML_ADMIN, role_group
        from django.contrib.auth import get_user_model

        users = get_user_model().objects
        self.admin = users.create_user("bench-admin", password="bench-password-long-enough")
        self.admin.groups.add(role_group(ML_ADMIN))
        self.analysts = []
        for n in range(3):
            analyst = users.create_user(f"analyst{n}", password="bench-password-long-enough")
            analyst.groups.add(role_group(ANALYST))
            self.analysts.append(analyst)
        self.rng = random.Random(42)
        self.runs: list[Any] = []
        self.versions: list[Any] = []
        self.predictions = 0
        self.imported: set[str] = set()

    def fill_to(self, *, reviews: int, runs: int, predictions: int) -> None:
        self._reviews(reviews)
        self._labels(share=0.03)
        from apps.reviews.snapshots import snapshot_create

        snapshot = snapshot_create(name=f"bench {reviews:,} reviews")
        while len(self.runs) < runs:
            self._run(snapshot, index=len(self.runs), total=runs)
        self._predictions(predictions)

    def _reviews(self, count: int) -> None:
        from apps.reviews.models import Review

        if IMDB_DIR.exists():
            from apps.reviews.services import review_import

            for name in ("test", "train", "unsupervised"):
                if Review.objects.count() >= count:
                    break
                if name not in self.imported:
                    review_import(source=str(IMDB_DIR / f"{name}.parquet"), source_name="imdb")
                    self.imported.add(name)
            return
        words = "good bad plot acting score film movie ending wonderful boring superb awful the a was and".split()
        start = Review.objects.count()
        Review.objects.bulk_create(
            (
                Review(
                    text=" ".join(self.rng.choice(words) for _ in range(200)), source="bench", external_id=str(n),
                    gold_label=None if n % 2 and n > count // 2 else n % 2,
                )  # fmt: skip
                for n in range(start, count)
            ),
            batch_size=5_000,
        )

    def _labels(self, *, share: float) -> None:
        """Three analysts annotate a share of the reviews (unlabelled ones first); most get resolved."""
        from django.db.models import F

        from apps.labelling.models import Annotation, Resolution
        from apps.reviews.models import Review

        done = set(Annotation.objects.values_list("review_id", flat=True))
        wanted = int(Review.objects.count() * share)
        candidates = [
            (pk, gold)
            for pk, gold in Review.objects.order_by(F("gold_label").asc(nulls_first=True), "id").values_list(
                "id", "gold_label"
            )[: wanted * 2]
            if pk not in done
        ][: max(0, wanted - len(done))]
        annotations, resolutions = [], []
        for pk, gold in candidates:
            truth = gold if gold is not None else self.rng.randint(0, 1)
            labels = [truth if self.rng.random() < 0.9 else 1 - truth for _ in self.analysts]
            annotations.extend(
                Annotation(review_id=pk, user=user, label=label) for user, label in zip(self.analysts, labels)
            )
            if len(set(labels)) == 1 or self.rng.random() < 0.5:
                majority = max(set(labels), key=labels.count)
                method = "unanimous" if len(set(labels)) == 1 else "majority"
                resolutions.append(Resolution(review_id=pk, label=majority, method=method))
        Annotation.objects.bulk_create(annotations, batch_size=5_000)
        Resolution.objects.bulk_create(resolutions, batch_size=5_000)

    def _run(self, snapshot: Any, *, index: int, total: int) -> None:
        """A run in one of the states a real list holds; succeeded ones with epochs, test predictions, a version."""
        from django.utils import timezone

        from apps.registry.models import ModelVersion, Promotion
        from apps.training.models import EpochMetric, RunPrediction, TrainingRun

        status = "running" if index == total - 1 else ("failed" if index % 7 == 3 else "succeeded")
        kind = "tfidf" if index % 4 == 0 else "transformer"
        now = timezone.now()
        run = TrainingRun.objects.create(
            snapshot=snapshot, kind=kind, base_model=["sentence-transformers/all-MiniLM-L6-v2", "distilbert-base-uncased"][index % 2],
            status=status, learning_rate=[2e-5, 3e-5, 5e-5][index % 3], epochs=2 + index % 2, created_by=self.admin,
            started_at=now - timedelta(minutes=30), finished_at=None if status == "running" else now,
            total_steps=5_000, current_step=2_100 if status == "running" else 5_000, eta_seconds=600,
            error="CUDA out of memory." if status == "failed" else "",
            log_tail="".join(f"step {n}: loss {0.7 - n / 20_000:.4f}\n" for n in range(0, 5_000, 25)),
        )  # fmt: skip
        self.runs.append(run)
        for epoch in range(1, run.epochs + 1):
            EpochMetric.objects.create(
                run=run, epoch=epoch, step=epoch * 2_500, train_loss=0.5 / epoch, validation_loss=0.3 + 0.02 * epoch,
                validation_accuracy=0.88 + 0.01 * epoch, validation_f1=0.88 + 0.01 * epoch,
            )  # fmt: skip
        if status != "succeeded":
            return
        accuracy = 0.85 + self.rng.random() * 0.08
        test = snapshot.items.filter(split="test").values_list("review_id", "label")
        predictions = []
        matrix = [[0, 0], [0, 0]]
        for review_id, label in test.iterator(chunk_size=5_000):
            predicted = label if self.rng.random() < accuracy else 1 - label
            matrix[label][predicted] += 1
            predictions.append(
                RunPrediction(
                    training_run=run, review_id=review_id, gold_label=label, predicted_label=predicted,
                    confidence=round(0.5 + self.rng.random() / 2, 4),
                )  # fmt: skip
            )
        RunPrediction.objects.bulk_create(predictions, batch_size=5_000)
        [[tn, fp], [fn, tp]] = matrix
        precision, recall = tp / (tp + fp), tp / (tp + fn)
        run.confusion_matrix = matrix
        run.accuracy = (tn + tp) / len(predictions)
        run.precision, run.recall = precision, recall
        run.f1 = run.f1_macro = 2 * precision * recall / (precision + recall)
        run.metrics = {"accuracy": run.accuracy, "f1": run.f1, "support": len(predictions), "confusion_matrix": matrix}
        run.save()
        version = ModelVersion.objects.create(
            training_run=run, kind=kind, base_model=run.base_model if kind == "transformer" else "", snapshot=snapshot,
            artifact_path=f"run-{run.pk}", manifest={"kind": kind}, test_accuracy=run.accuracy, test_f1=run.f1,
        )  # fmt: skip
        self._write_card(version, run)
        current = ModelVersion.objects.filter(is_current=True).first()
        if current is None or version.test_accuracy > current.test_accuracy:
            ModelVersion.objects.filter(is_current=True).update(is_current=False)
            ModelVersion.objects.filter(pk=version.pk).update(is_current=True)
            Promotion.objects.create(from_version=current, to_version=version, promoted_by=self.admin, reason="better")
        self.versions.append(version)

    def _write_card(self, version: Any, run: Any) -> None:
        from django.conf import settings

        from workers.ml.artifacts import MODEL_CARD_NAME, model_card

        manifest = {
            "kind": run.kind, "base_model": run.base_model, "created_at": "2026-01-01T00:00:00+00:00",
            "max_length": 256, "truncation": "head", "lineage": {"training_run_id": run.pk, "snapshot_id": run.snapshot_id},
            "data_sizes": {"train": 40_000, "validation": 5_000, "test": 5_000},
            "hyperparameters": {"learning_rate": run.learning_rate, "epochs": run.epochs, "batch_size": run.batch_size},
            "metrics": {**run.metrics, "precision": run.precision, "recall": run.recall, "f1_macro": run.f1_macro},
            "epochs": [
                {"epoch": e.epoch, "train_loss": e.train_loss, "validation_loss": e.validation_loss,
                 "validation_accuracy": e.validation_accuracy, "validation_f1": e.validation_f1}
                for e in run.epoch_metrics.all()
            ],
        }  # fmt: skip
        folder = Path(settings.ARTIFACT_ROOT) / version.artifact_path
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MODEL_CARD_NAME).write_text(model_card(manifest), encoding="utf-8")

    def _predictions(self, count: int) -> None:
        """Stored predictions, as batch jobs and the form leave them: most by the current version."""
        from apps.predictions.models import Prediction
        from apps.registry.models import ModelVersion
        from apps.reviews.models import Review

        missing = count - self.predictions
        if missing <= 0:
            return
        current = ModelVersion.objects.get(is_current=True)
        others = [version for version in self.versions if version.pk != current.pk]
        offset = self.predictions
        rows = Review.objects.order_by("id").values_list("id", "text", "gold_label")[offset : offset + missing]
        batch = []
        for n, (review_id, text, gold) in enumerate(rows.iterator(chunk_size=5_000)):
            version = current if n % 5 or not others else others[n % len(others)]
            label = (gold if gold is not None else n % 2) if self.rng.random() < 0.9 else 1 - (gold or 0)
            confidence = round(0.5 + self.rng.random() / 2, 4)
            batch.append(
                Prediction(
                    text=text, review_id=review_id, model_version=version, label=label, confidence=confidence,
                    prob_negative=1 - confidence if label else confidence, prob_positive=confidence if label else 1 - confidence,
                    source="batch" if n % 50 else "form", user=self.analysts[n % 3] if n % 50 == 0 else None,
                )  # fmt: skip
            )
            if len(batch) == 5_000:
                Prediction.objects.bulk_create(batch)
                batch = []
        Prediction.objects.bulk_create(batch)
        self.predictions = count

    def counts(self) -> dict[str, int]:
        from apps.labelling.models import Annotation
        from apps.predictions.models import Prediction
        from apps.reviews.models import Review
        from apps.training.models import RunPrediction, TrainingRun

        return {
            "reviews": Review.objects.count(),
            "training_runs": TrainingRun.objects.count(),
            "predictions": Prediction.objects.count(),
            "run_predictions": RunPrediction.objects.count(),
            "annotations": Annotation.objects.count(),
        }

    def urls(self) -> dict[str, tuple[str, dict[str, str]]]:
        """The same pages at every size: the first runs and versions, and the newest review."""
        from apps.reviews.models import Review

        succeeded = [run for run in self.runs if run.status == "succeeded"]
        first, second = succeeded[0], succeeded[1]
        running = next(run for run in self.runs if run.status == "running")
        review = Review.objects.filter(predictions__isnull=False, annotations__isnull=False).order_by("id").first()
        version = self.versions[0]
        htmx = {"HTTP_HX_REQUEST": "true"}
        return {
            "home": ("/", {}),
            "home (poll)": ("/", {**htmx, "HTTP_HX_TARGET": "active-runs"}),
            "runs": ("/runs/", {}),
            "runs by test F1, succeeded": ("/runs/?status=succeeded&order=f1", {}),
            "run": (f"/runs/{first.pk}/", {}),
            "run (poll, running)": (f"/runs/{running.pk}/", {**htmx, "HTTP_HX_TARGET": "run-live"}),
            "confusion cell": (f"/runs/{first.pk}/cells/0/1/", {}),
            "compare": (f"/compare/?runs={first.pk}&runs={second.pk}", {}),
            "models": ("/models/", {}),
            "model": (f"/models/{version.pk}/", {}),
            "reviews": ("/reviews/", {}),
            "reviews: text search": ("/reviews/?q=wonderful+acting", {}),
            "reviews: common word": ("/reviews/?q=movie", {}),
            "reviews: gold positive, predicted negative": ("/reviews/?gold=1&predicted=0", {}),
            "reviews: model vs gold, conf. 0.9+": ("/reviews/?disagreement=model_gold&min_confidence=0.9", {}),
            "reviews: human label": ("/reviews/?human=1", {}),
            "review": (f"/reviews/{review.pk}/", {}),
            "predict (form)": ("/predict/", {}),
        }


if __name__ == "__main__":
    main()
