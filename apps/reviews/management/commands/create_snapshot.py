"""``python manage.py create_snapshot``: freeze the labelled reviews into a dataset snapshot."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.reviews.choices import Label, LabelSource, Split
from apps.reviews.models import DatasetSnapshot
from apps.reviews.snapshots import SnapshotError, snapshot_create, snapshot_label_counts


class Command(BaseCommand):
    help = (
        "Freeze the labelled reviews into a snapshot with a seeded train/validation/test split "
        "(by default 80/10/10 over the gold labels, seed 42) and print its counts and content hash."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--name", help="A name for the snapshot (default: label source, seed and size).")
        parser.add_argument("--seed", type=int, default=42, help="Seed of the reshuffle (default: 42).")
        parser.add_argument("--train", type=float, default=0.8, metavar="FRACTION", help="Train fraction (default: 0.8).")
        parser.add_argument(
            "--validation", type=float, default=0.1, metavar="FRACTION", help="Validation fraction (default: 0.1)."
        )
        parser.add_argument("--test", type=float, default=0.1, metavar="FRACTION", help="Test fraction (default: 0.1).")
        parser.add_argument(
            "--labels",
            choices=LabelSource.values,
            default=LabelSource.GOLD.value,
            help=(
                "gold: gold labels; human: resolved human labels (unanimous, majority or settled by an ML admin); "
                "gold_and_human: gold where present, else human, and a settled label overrides gold."
            ),
        )
        parser.add_argument("--description", default="", help="Free text stored with the snapshot.")
        parser.add_argument(
            "--keep-origin-split",
            action="store_true",
            help=(
                "Keep the source's own split (the standard benchmark): its test half is the test split, its train "
                "half is split into train and --validation (a share of that half, default 0.1); --train and --test "
                "are not used."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            snapshot = snapshot_create(
                name=options["name"],
                seed=options["seed"],
                train_fraction=options["train"],
                validation_fraction=options["validation"],
                test_fraction=options["test"],
                label_source=options["labels"],
                description=options["description"],
                keep_origin_split=options["keep_origin_split"],
            )
        except SnapshotError as error:
            raise CommandError(str(error)) from error
        self._report(snapshot)

    def _report(self, snapshot: DatasetSnapshot) -> None:
        counts = snapshot_label_counts(snapshot=snapshot)
        self.stdout.write(self.style.SUCCESS(f"Created snapshot {snapshot.pk}: {snapshot.name}"))
        self.stdout.write(
            f"Labels: {snapshot.label_source}, seed {snapshot.seed}, fractions "
            f"{snapshot.train_fraction:g} / {snapshot.validation_fraction:g} / {snapshot.test_fraction:g}"
            + (" (the source's own test split)" if snapshot.keeps_origin_split else "")
        )
        self.stdout.write("")
        header = f"{'split':<12}" + "".join(f"{label.label:>10}" for label in Label) + f"{'total':>10}"
        self.stdout.write(header)
        for split in Split:
            row = counts[split.value]
            cells = "".join(f"{row[label.value]:>10,}" for label in Label)
            self.stdout.write(f"{split.value:<12}{cells}{sum(row.values()):>10,}")
        label_totals = "".join(f"{sum(counts[s.value][label.value] for s in Split):>10,}" for label in Label)
        self.stdout.write(f"{'total':<12}{label_totals}{snapshot.size:>10,}")
        self.stdout.write("")
        self.stdout.write(f"Content hash: {snapshot.content_hash}")
