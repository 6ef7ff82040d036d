"""Every CPU model kind on the default snapshot and on the standard benchmark snapshot, in one run.

- default: the platform's default snapshot (``snapshot_create()``: seed 42, stratified 80/10/10 over
  IMDb's 50,000 labelled reviews, review ids numbered as a fresh import numbers them);
- benchmark: ``snapshot_create(keep_origin_split=True)``: IMDb's own test half (25,000) as test, its
  train half split 90/10 into train and validation, so accuracy compares with published figures.

For each model: test accuracy and F1, fit seconds (wall and CPU; the machine is shared, so the load
average is recorded too), and predict reviews per second through the web predictor (``load_model``).
On the default snapshot it also measures scikit-learn's own ``TfidfVectorizer`` pipeline, persisted with
skops, against the hand-written featuriser of workers/ml/tfidf.py, on the same texts.

On the default snapshot it also builds the ensemble of the CPU models (``workers/ml/ensemble.py``:
logistic regression over their log-odds, fit on validation) and measures it beside each member on test.

Writes bench/results/baselines.json and prints one line per result. ``--smoke`` runs everything on a few
thousand reviews in well under a minute and writes nothing. ``--ensemble-only`` trains the members on the
default snapshot and builds their ensemble, nothing else, and writes bench/results/ensemble_cpu.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "imdb"
PUBLISHED = {
    "source": "IMDb test half (25,000 reviews), Wang & Manning 2012, 'Baselines and Bigrams'",
    "NBSVM-bi": 0.9122,
    "NBSVM-uni": 0.8829,
    "MNB-bi": 0.8655,
}
# Every CPU model kind, with the settings each variant changes from the defaults.
MODELS: dict[str, dict[str, Any]] = {
    "tfidf (default: naive-Bayes weighted 1-3 grams, C 16)": {},
    "tfidf, idf weighted 1-2 grams, C on validation (before)": {
        "tfidf_ngram_max": 2,
        "tfidf_nb_weighting": False,
        "tfidf_c": None,
    },
}
SMOKE_REVIEWS = 2_000


def _setup_django() -> None:
    # Only for the snapshot code's pure split functions; no database is touched.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sentimentsite.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()


def load_snapshots(folder: Path, limit: int | None) -> dict[str, Any]:
    """The two snapshots as SplitData, split by the platform's own functions."""
    import pyarrow.parquet as pq

    from apps.reviews.snapshots import assign_origin_splits, assign_splits
    from workers.ml.data import Example, SplitData

    texts: dict[int, str] = {}
    rows: list[tuple[int, int, str]] = []
    for origin in ("train", "test"):
        table = pq.read_table(folder / f"{origin}.parquet", columns=["text", "label"])
        for text, label in zip(table.column("text").to_pylist(), table.column("label").to_pylist()):
            review_id = len(rows) + 1
            texts[review_id] = text
            rows.append((review_id, int(label), origin))
    if limit is not None:
        # Every other review of each half keeps both origins and both labels in a small sample.
        step = max(1, len(rows) // limit)
        rows = rows[::step][:limit]

    def split_data(planned: list[Any]) -> Any:
        by_split: dict[str, list[Example]] = {"train": [], "validation": [], "test": []}
        for item in planned:
            by_split[item.split].append(Example(review_id=item.review_id, text=texts[item.review_id], label=item.label))
        return SplitData(**by_split)

    return {
        "default": split_data(assign_splits([(i, label) for i, label, _ in rows], seed=42, fractions=(0.8, 0.1, 0.1))),
        "benchmark": split_data(assign_origin_splits(rows, seed=42, validation_fraction=0.1)),
    }


def _timed(function: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def measure_model(name: str, settings: dict[str, Any], data: Any, folder: Path) -> dict[str, Any]:
    from workers.ml import TrainConfig
    from workers.ml.training import train
    from workers.ml.inference import load_model

    load_before = os.getloadavg()[0]
    result, wall, cpu = _timed(lambda: train(TrainConfig(kind="tfidf", **settings), data, folder / "model"))
    fit_seconds = result.manifest["hyperparameters"]["fit_seconds"]
    model = load_model(result.artifact_dir)
    texts = [example.text for example in data.test]
    _, predict_wall, _ = _timed(lambda: model.probabilities(texts, batch_size=256))
    return {
        "model": name,
        "settings": {key: value for key, value in result.manifest["hyperparameters"].items() if key != "kind"},
        "reviews": {"train": len(data.train), "validation": len(data.validation), "test": len(data.test)},
        "accuracy": result.metrics["accuracy"],
        "f1": result.metrics["f1"],
        "fit_seconds": fit_seconds,
        "train_wall_seconds": wall,
        "train_cpu_seconds": cpu,
        "predict_reviews_per_second": len(texts) / predict_wall,
        "artifact_bytes": result.artifact_size,
        "load_average_before": load_before,
    }


def measure_ensemble(members: list[dict[str, Any]], folders: list[Path], data: Any, folder: Path) -> dict[str, Any]:
    """The ensemble of ``members`` (trained into ``folders``), its weights fit on validation, beside each on test."""
    from workers.ml.ensemble import METHOD, MemberSource, build_ensemble
    from workers.ml.inference import load_model

    sources = [MemberSource(index, path) for index, path in enumerate(folders)]
    result, wall, cpu = _timed(lambda: build_ensemble(sources, data.validation, data.test, folder / "ensemble"))
    model = load_model(result.artifact_dir)
    texts = [example.text for example in data.test]
    _, predict_wall, _ = _timed(lambda: model.probabilities(texts, batch_size=256))
    best = max(members, key=lambda row: row["accuracy"])
    return {
        "model": "ensemble of " + " + ".join(row["model"] for row in members),
        "method": METHOD,
        "weights": [item["weight"] for item in result.members],
        "intercept": result.intercept,
        "accuracy": result.metrics["accuracy"],
        "f1": result.metrics["f1"],
        "validation_accuracy": result.metrics["validation"]["accuracy"],
        "members": [
            {"model": row["model"], "accuracy": item["test"]["accuracy"], "f1": item["test"]["f1"],
             "validation_accuracy": item["validation"]["accuracy"]}
            for row, item in zip(members, result.members)
        ],  # fmt: skip
        "gain_over_best_member": {
            "accuracy": result.metrics["accuracy"] - best["accuracy"],
            "f1": result.metrics["f1"] - max(row["f1"] for row in members),
        },
        "beats_every_member": all(
            result.metrics["accuracy"] > row["accuracy"] and result.metrics["f1"] > row["f1"] for row in members
        ),
        "build_wall_seconds": wall,
        "build_cpu_seconds": cpu,
        "predict_reviews_per_second": len(texts) / predict_wall,
        "artifact_bytes": result.artifact_size,
    }


def print_ensemble(row: dict[str, Any]) -> None:
    members = ", ".join(f"{item['model']} {item['accuracy']:.4f} / F1 {item['f1']:.4f}" for item in row["members"])
    print(
        f"baselines: default {row['model']}: accuracy {row['accuracy']:.4f} F1 {row['f1']:.4f} "
        f"(weights {', '.join(f'{w:.2f}' for w in row['weights'])}; members: {members}; gain over the best member "
        f"{row['gain_over_best_member']['accuracy']:+.4f} accuracy, {row['gain_over_best_member']['f1']:+.4f} F1), "
        f"built in {row['build_wall_seconds']:.1f} s, {row['predict_reviews_per_second']:,.0f} reviews/s",
        flush=True,
    )


def compare_featurisers(data: Any, folder: Path) -> dict[str, Any]:
    """scikit-learn's TfidfVectorizer pipeline (persisted with skops) against the hand-written featuriser.

    Both featurise the same cleaned training texts with the same n-grams, min_df, token pattern and
    idf weighting (the weighting scikit-learn has), and fit the same logistic regression.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from skops.io import dump, get_untrusted_types, load

    from workers.ml.data import clean_text
    from workers.ml.tfidf import TOKEN_PATTERN, NgramFeaturizer, TfidfScorer

    train_texts = [clean_text(example.text, True) for example in data.train]
    test_texts = [clean_text(example.text, True) for example in data.test]
    labels = np.array([example.label for example in data.train])
    test_labels = np.array([example.label for example in data.test])

    vectorizer = TfidfVectorizer(ngram_range=(1, 3), min_df=2, sublinear_tf=True, lowercase=False, token_pattern=TOKEN_PATTERN)
    sk_train, sk_fit, _ = _timed(lambda: vectorizer.fit_transform(train_texts))
    _, sk_transform, _ = _timed(lambda: vectorizer.transform(test_texts))
    classifier = LogisticRegression(C=16.0, solver="liblinear", dual=True, max_iter=1000, random_state=42)
    classifier.fit(sk_train, labels)
    pipeline = Pipeline([("tfidf", vectorizer), ("logistic_regression", classifier)])
    path = folder / "pipeline.skops"
    _, sk_save, _ = _timed(lambda: dump(pipeline, path))
    untrusted = get_untrusted_types(file=path)
    loaded, sk_load, _ = _timed(lambda: load(path, trusted=untrusted))
    sk_accuracy = float((loaded.predict(test_texts) == test_labels).mean())

    (featurizer, own_train), own_fit, _ = _timed(
        lambda: NgramFeaturizer.fit(train_texts, labels, ngram_max=3, min_df=2, naive_bayes=False)
    )
    _, own_transform, _ = _timed(lambda: featurizer.transform(test_texts))
    own_classifier = LogisticRegression(C=16.0, solver="liblinear", dual=True, max_iter=1000, random_state=42)
    own_classifier.fit(own_train, labels)
    scorer = TfidfScorer(featurizer, own_classifier.coef_[0], float(own_classifier.intercept_[0]), True, "idf")
    own_folder = folder / "own"
    own_folder.mkdir()
    _, own_save, _ = _timed(lambda: scorer.save(own_folder))
    reloaded, own_load, _ = _timed(lambda: TfidfScorer.load(own_folder, lowercase=True))
    own_accuracy = float((reloaded.probabilities([example.text for example in data.test]).argmax(axis=1) == test_labels).mean())

    return {
        "same_features": sorted(vectorizer.vocabulary_) == sorted(featurizer.terms()) if len(train_texts) <= 5_000 else None,
        "feature_count": {"scikit_learn": len(vectorizer.vocabulary_), "hand_written": featurizer.size},
        "fit_seconds": {"scikit_learn": sk_fit, "hand_written": own_fit, "speedup": sk_fit / own_fit},
        "transform_reviews_per_second": {
            "scikit_learn": len(test_texts) / sk_transform,
            "hand_written": len(test_texts) / own_transform,
            "speedup": sk_transform / own_transform,
        },
        "save_seconds": {"scikit_learn_skops": sk_save, "hand_written_json_safetensors": own_save},
        "load_seconds": {"scikit_learn_skops": sk_load, "hand_written_json_safetensors": own_load},
        "bytes": {
            "scikit_learn_skops": path.stat().st_size,
            "hand_written_json_safetensors": sum(p.stat().st_size for p in own_folder.iterdir()),
        },
        "skops_types_to_trust": untrusted,
        "test_accuracy": {"scikit_learn": sk_accuracy, "hand_written": own_accuracy},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with train.parquet and test.parquet")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_REVIEWS:,} reviews, a quick check; writes nothing")
    parser.add_argument(
        "--ensemble-only", action="store_true", help="only the ensemble and its members on the default snapshot"
    )
    args = parser.parse_args()

    _setup_django()
    snapshots = load_snapshots(args.data, SMOKE_REVIEWS if args.smoke else None)
    if args.ensemble_only:
        snapshots = {"default": snapshots["default"]}
    results: list[dict[str, Any]] = []
    ensemble: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for snapshot, data in snapshots.items():
            for index, (name, settings) in enumerate(MODELS.items()):
                folder = Path(scratch) / f"{snapshot}-{index}"
                row = {"snapshot": snapshot, **measure_model(name, settings, data, folder)}
                results.append(row)
                print(
                    f"baselines: {snapshot} {name}: accuracy {row['accuracy']:.4f} F1 {row['f1']:.4f}, "
                    f"fit {row['fit_seconds']:.1f} s (train {row['train_wall_seconds']:.1f} s wall, "
                    f"{row['train_cpu_seconds']:.1f} s CPU, load {row['load_average_before']:.1f}), "
                    f"{row['predict_reviews_per_second']:,.0f} reviews/s",
                    flush=True,
                )
            if snapshot == "default":
                folders = [Path(scratch) / f"default-{index}" / "model" for index in range(len(MODELS))]
                members = [row for row in results if row["snapshot"] == "default"]
                ensemble = measure_ensemble(members, folders, data, Path(scratch))
                print_ensemble(ensemble)
        if args.ensemble_only:
            if not args.smoke:
                _write("ensemble_cpu.json", {"benchmark": "ensemble_cpu", "members": results, "ensemble": ensemble, "machine": _machine()})
            return
        featurisers = compare_featurisers(snapshots["default"], Path(scratch))
    print(
        "baselines: featuriser, scikit-learn TfidfVectorizer vs hand-written, 1-3 grams on the default train split: "
        f"fit {featurisers['fit_seconds']['scikit_learn']:.1f} s vs {featurisers['fit_seconds']['hand_written']:.1f} s "
        f"({featurisers['fit_seconds']['speedup']:.1f}x), transform "
        f"{featurisers['transform_reviews_per_second']['scikit_learn']:,.0f} vs "
        f"{featurisers['transform_reviews_per_second']['hand_written']:,.0f} reviews/s "
        f"({featurisers['transform_reviews_per_second']['speedup']:.1f}x)"
    )
    if args.smoke:
        return
    record = {
        "benchmark": "baselines",
        "results": results,
        "published": PUBLISHED,
        "featurisers": featurisers,
        "ensemble": ensemble,
        "machine": _machine(),
    }
    _write("baselines.json", record)


def _machine() -> dict[str, Any]:
    return {
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "note": "a machine shared with other jobs: wall seconds rise with the load average, CPU seconds less",
    }


def _write(name: str, record: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
