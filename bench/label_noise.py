"""Label-noise detection against today's suspicious ordering, on labels with a known 5% of them flipped.

Takes the training split of the default snapshot (the 50,000 labelled IMDb reviews, stratified 80/10/10,
seed 42: 40,000 reviews, as ``snapshot_create`` makes it), flips a seeded 5% of their labels, then in one run:

- **detection** (workers/ml/noise.py, what the platform's noise job runs): out-of-sample probabilities of
  the TF-IDF model (1-2-grams) averaged over three seeded 5-fold splits, cleanlab's ``find_label_issues``;
  ranked flagged first, then by label quality;
- **in-sample** (today's suspicious queue): one TF-IDF model with the training defaults (1-3-grams)
  fitted on all the (noisy) labels, reviews ranked by the probability it gives their own label.

Reports precision and recall of the flagged reviews, precision at k = the number flipped for both
orderings, and the wall times. IMDb has wrong labels of its own, which count against precision here
although finding them is the point: the detection also runs on the unflipped labels, and precision at k
is given a second time with the reviews it flags there (and that were not flipped) left out of both
orderings. Writes bench/results/label_noise.json. ``--smoke``: 2,000 reviews, no results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from workers.ml.config import TrainConfig
from workers.ml.data import read_imdb_parquet
from workers.ml.noise import (
    NoiseSettings,
    detect_label_noise,
    find_noise,
    in_sample_probabilities,
)

RESULTS = REPO / "bench" / "results"
DEFAULT_DATA = REPO.parent / "shared" / "data" / "imdb"
SMOKE_REVIEWS = 2000
FLIP_SHARE = 0.05
TARGET_PRECISION_AT_K = 0.75


def default_snapshot_train(examples: list, seed: int) -> list:
    """The train split ``snapshot_create`` makes with its defaults (stratified 80/10/10), computed without a database."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sentimentsite.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    import django

    django.setup()
    from apps.reviews.snapshots import assign_splits

    planned = assign_splits([(example.review_id, example.label) for example in examples], seed=seed, fractions=(0.8, 0.1, 0.1))
    by_id = {example.review_id: example for example in examples}
    train = sorted((item for item in planned if item.split == "train"), key=lambda item: item.position)
    return [by_id[item.review_id] for item in train]


def precision_at(order: np.ndarray, flipped: np.ndarray, k: int, *, leave_out: np.ndarray | None = None) -> float:
    if leave_out is not None:
        order = order[~leave_out[order]]
    return float(flipped[order[:k]].mean()) if k else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with train.parquet and test.parquet")
    parser.add_argument("--seed", type=int, default=42, help="seed of the snapshot split, the flips and the folds")
    parser.add_argument("--folds", type=int, default=NoiseSettings.folds)
    parser.add_argument("--repeats", type=int, default=NoiseSettings.repeats, help="seeded k-fold splits averaged")
    parser.add_argument("--ngram-max", type=int, default=NoiseSettings.ngram_max, help="longest n-gram of the fold models")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_REVIEWS} reviews, no results written")
    args = parser.parse_args()

    examples = read_imdb_parquet(args.data)
    if args.smoke:
        examples = random.Random(args.seed).sample(examples, SMOKE_REVIEWS)
    train = default_snapshot_train(examples, args.seed)
    texts = [example.text for example in train]
    clean = np.array([example.label for example in train], dtype=np.int64)
    flipped = np.zeros(len(train), dtype=bool)
    flipped[random.Random(args.seed).sample(range(len(train)), round(FLIP_SHARE * len(train)))] = True
    noisy = np.where(flipped, 1 - clean, clean)
    k = int(flipped.sum())

    settings = NoiseSettings(folds=args.folds, repeats=args.repeats, ngram_max=args.ngram_max, seed=args.seed)
    started = time.perf_counter()
    findings = detect_label_noise(texts, noisy, settings=settings)
    detection_seconds = time.perf_counter() - started
    flagged_true = int((findings.issues & flipped).sum())
    detection_order = np.lexsort((findings.quality, ~findings.issues))

    started = time.perf_counter()
    training_defaults = TrainConfig(kind="tfidf")
    in_sample = in_sample_probabilities(
        texts, noisy, settings=NoiseSettings(ngram_max=training_defaults.tfidf_ngram_max, c=training_defaults.tfidf_c or 16.0)
    )
    in_sample_seconds = time.perf_counter() - started
    in_sample_given = in_sample[np.arange(len(noisy)), noisy]
    in_sample_order = np.argsort(in_sample_given, kind="stable")
    in_sample_findings = find_noise(noisy, in_sample)

    started = time.perf_counter()
    on_unflipped = detect_label_noise(texts, clean, settings=settings)
    unflipped_seconds = time.perf_counter() - started
    imdb_suspects = on_unflipped.issues & ~flipped

    record = {
        "benchmark": "label_noise",
        "reviews": len(train),
        "flipped": k,
        "flip_share": FLIP_SHARE,
        "settings": {"folds": settings.folds, "repeats": settings.repeats, "ngram_max": settings.ngram_max, "min_df": settings.min_df, "C": settings.c},
        "in_sample_settings": {"ngram_max": training_defaults.tfidf_ngram_max, "C": training_defaults.tfidf_c},
        "detection": {
            "flagged": findings.flagged,
            "flagged_flipped": flagged_true,
            "precision": flagged_true / findings.flagged if findings.flagged else 0.0,
            "recall": flagged_true / k if k else 0.0,
            "precision_at_k": precision_at(detection_order, flipped, k),
            "estimated_issues": findings.estimated_issues,
            "out_of_sample_accuracy_on_noisy_labels": findings.out_of_sample_accuracy,
            "wall_seconds": detection_seconds,
        },
        "in_sample_baseline": {
            "precision_at_k": precision_at(in_sample_order, flipped, k),
            "flagged_by_find_label_issues": in_sample_findings.flagged,
            "recall_of_those_flags": float((in_sample_findings.issues & flipped).sum() / k) if k else 0.0,
            "estimated_issues": in_sample_findings.estimated_issues,
            "wall_seconds": in_sample_seconds,
        },
        "imdb_own_labels": {
            "flagged_on_unflipped_labels": on_unflipped.flagged,
            "estimated_issues_on_unflipped_labels": on_unflipped.estimated_issues,
            "left_out_below": int(imdb_suspects.sum()),
            "detection_precision_at_k": precision_at(detection_order, flipped, k, leave_out=imdb_suspects),
            "in_sample_precision_at_k": precision_at(in_sample_order, flipped, k, leave_out=imdb_suspects),
            "wall_seconds": unflipped_seconds,
        },
        "target_precision_at_k": TARGET_PRECISION_AT_K,
        "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()},
    }
    detection, baseline, own = record["detection"], record["in_sample_baseline"], record["imdb_own_labels"]
    ratio = detection["precision_at_k"] / baseline["precision_at_k"] if baseline["precision_at_k"] else float("inf")
    record["precision_at_k_ratio"] = ratio
    if not args.smoke:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "label_noise.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(
        f"label_noise{' (smoke)' if args.smoke else ''}: {len(train):,} reviews, {k:,} flipped; detection flagged "
        f"{findings.flagged:,} (precision {detection['precision']:.3f}, recall {detection['recall']:.3f}), precision@k "
        f"{detection['precision_at_k']:.3f} vs in-sample {baseline['precision_at_k']:.3f} ({ratio:.2f}x; target "
        f">= {TARGET_PRECISION_AT_K}); estimated wrong labels {findings.estimated_issues:,} (in-sample: "
        f"{in_sample_findings.estimated_issues:,}); without the {own['left_out_below']:,} IMDb labels it flags unflipped: "
        f"precision@k {own['detection_precision_at_k']:.3f} vs {own['in_sample_precision_at_k']:.3f}; "
        f"{detection_seconds:.1f} s detection, {in_sample_seconds:.1f} s in-sample"
    )


if __name__ == "__main__":
    main()
