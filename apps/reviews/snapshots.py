"""Dataset snapshots: freeze the labelled reviews into a seeded, stratified train/validation/test split.

A snapshot never changes once made. Its items carry a copy of each review's label as it was when the
snapshot was taken, and its content hash names exactly the data a model saw, so two snapshots with the
same hash hold the same reviews with the same labels in the same splits.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple, cast

from django.db import connection, transaction
from django.db.models import Case, Count, F, Q, When
from django.db.models.functions import Coalesce

from apps.common.labels import ResolutionMethod
from apps.reviews.choices import Label, LabelSource, OriginSplit, Split
from apps.reviews.models import DatasetSnapshot, Review, SnapshotItem, concrete_column

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SPLITS: tuple[Split, ...] = (Split.TRAIN, Split.VALIDATION, Split.TEST)
FRACTION_TOLERANCE = 1e-6
# The largest value a PositiveIntegerField holds on every supported database.
MAX_SEED = 2_147_483_647
INSERT_BATCH_SIZE = 5_000


class SnapshotError(ValueError):
    """A snapshot cannot be made as asked; the message says what was wrong and what to do."""


class PlannedItem(NamedTuple):
    """One review's place in a snapshot: its frozen label, its split and its position within the split."""

    review_id: int
    label: int
    split: str
    position: int


def snapshot_create(
    *,
    name: str | None = None,
    seed: int = 42,
    train_fraction: float = 0.8,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    label_source: LabelSource | str = LabelSource.GOLD,
    created_by: User | None = None,
    description: str = "",
    keep_origin_split: bool = False,
) -> DatasetSnapshot:
    """Freeze the labelled reviews into a new snapshot with a seeded, stratified split.

    ``label_source`` picks the reviews and their labels: ``gold`` takes reviews with a gold label;
    ``human`` takes reviews with a labelling resolution (unanimous, majority or settled; a resolution
    that only confirms the gold label is not a human label), with the resolved label;
    ``gold_and_human`` takes the gold label where there is one and the resolved human label otherwise,
    except that a label an ML admin settled overrides the gold label.

    The split is stratified by label, so every split keeps the overall label balance: split sizes are
    the fractions of all labelled reviews (largest remainder rounding), and each label contributes its
    own share to each split. Reviews of each label are taken in ascending id order and reshuffled with
    ``random.Random(seed)``, then each split's members are shuffled once more to set their positions;
    the database's row order plays no part, so the same seed over the same reviews always gives the
    same snapshot. With the defaults over IMDb's 50,000 labelled reviews this is the seed project's
    80/10/10 split: 40,000 / 5,000 / 5,000, each split half positive and half negative.

    With ``keep_origin_split`` the source's own split is kept instead (the standard benchmark, comparable
    with published IMDb figures): reviews from the source's test half form the test split, and reviews
    from its train half are split, stratified by label, into train and validation, ``validation_fraction``
    of them going to validation; ``train_fraction`` and ``test_fraction`` are then not used, and the
    stored fractions are the shares that came out. Labelled reviews without a source split (a CSV
    import, say) are left out.

    The whole snapshot is written in one transaction: either all of it exists or none of it does.
    Raises ``SnapshotError`` for fractions that are not positive or do not sum to 1, a seed out of
    range, an unknown label source, no labelled reviews, or a split that would be empty.
    """
    if keep_origin_split:
        is_number = isinstance(validation_fraction, (int, float)) and not isinstance(validation_fraction, bool)
        if not is_number or not 0 < validation_fraction < 1:
            raise SnapshotError(
                f"The validation fraction is the share of the source's train half held out for validation: "
                f"a number between 0 and 1 (exclusive), not {validation_fraction!r}."
            )
        fractions = (1 - validation_fraction, validation_fraction, 0.0)
    else:
        fractions = _validated_fractions(train=train_fraction, validation=validation_fraction, test=test_fraction)
    source = _validated_label_source(label_source)
    _validate_seed(seed)
    name = (name or "").strip()
    longest_name = DatasetSnapshot._meta.get_field("name").max_length or 0
    if len(name) > longest_name:
        raise SnapshotError(f"The snapshot name is {len(name)} characters long; keep it to {longest_name} or fewer.")

    with transaction.atomic():
        if keep_origin_split:
            origin_rows = _labelled_rows_with_origin(source)
            if not origin_rows:
                raise SnapshotError(_NO_LABELLED_REVIEWS[source])
            planned = assign_origin_splits(origin_rows, seed=seed, validation_fraction=validation_fraction)
        else:
            rows = _labelled_rows(source)
            if not rows:
                raise SnapshotError(_NO_LABELLED_REVIEWS[source])
            planned = assign_splits(rows, seed=seed, fractions=fractions)
        split_counts = {split.value: 0 for split in SPLITS}
        label_counts = {label.value: 0 for label in Label}
        for item in planned:
            split_counts[item.split] += 1
            label_counts[item.label] += 1

        if keep_origin_split:
            # The shares that came out of the source's split, so the stored fractions stay true.
            fractions = tuple(split_counts[split.value] / len(planned) for split in SPLITS)  # type: ignore[assignment]
        default_name = f"{source.label}, {'source split, ' if keep_origin_split else ''}seed {seed}, {len(planned):,} reviews"
        snapshot = DatasetSnapshot.objects.create(
            name=name or default_name,
            description=description,
            label_source=source,
            seed=seed,
            keeps_origin_split=keep_origin_split,
            train_fraction=fractions[0],
            validation_fraction=fractions[1],
            test_fraction=fractions[2],
            content_hash=content_hash(planned),
            train_count=split_counts[Split.TRAIN],
            validation_count=split_counts[Split.VALIDATION],
            test_count=split_counts[Split.TEST],
            positive_count=label_counts[Label.POSITIVE],
            negative_count=label_counts[Label.NEGATIVE],
            created_by=created_by,
        )
        _insert_items(snapshot, planned)
    return snapshot


def assign_splits(
    rows: Iterable[tuple[int, int]], *, seed: int, fractions: tuple[float, float, float]
) -> list[PlannedItem]:
    """Place each ``(review id, label)`` row in train, validation or test; a pure function of its inputs.

    ``fractions`` are (train, validation, test) and sum to 1. Raises ``SnapshotError`` when a split
    would be empty. The input order does not matter: rows are sorted by review id first.
    """
    ordered = sorted(rows)
    by_label: dict[int, list[int]] = {}
    for review_id, label in ordered:
        by_label.setdefault(label, []).append(review_id)

    split_sizes = _largest_remainder(len(ordered), fractions)
    for split, size, fraction in zip(SPLITS, split_sizes, fractions):
        if size == 0:
            raise SnapshotError(
                f"The {split.label.lower()} split would be empty: a fraction of {fraction:g} of {len(ordered)} "
                f"labelled review(s) rounds to none. Import or label more reviews, or give {split.label.lower()} a larger fraction."
            )
    quotas = _stratified_quotas({label: len(ids) for label, ids in by_label.items()}, split_sizes, fractions)

    rng = random.Random(seed)
    members: dict[str, list[tuple[int, int]]] = {split.value: [] for split in SPLITS}
    for label in sorted(by_label):
        review_ids = by_label[label]
        rng.shuffle(review_ids)
        start = 0
        for split_name, quota in zip(members, quotas[label]):
            members[split_name].extend((review_id, label) for review_id in review_ids[start : start + quota])
            start += quota

    planned: list[PlannedItem] = []
    for split_name, split_members in members.items():
        # Without this, each split would hold all of one label and then all of the next.
        rng.shuffle(split_members)
        planned.extend(
            PlannedItem(review_id, label, split_name, position) for position, (review_id, label) in enumerate(split_members)
        )
    return planned


def assign_origin_splits(
    rows: Iterable[tuple[int, int, str]], *, seed: int, validation_fraction: float
) -> list[PlannedItem]:
    """Place each ``(review id, label, origin split)`` row by its source's split; a pure function of its inputs.

    Origin test reviews are the test split; origin train reviews are split, stratified by label, into
    train and validation (``validation_fraction`` of each label to validation, rounded to the nearest
    review, as the reshuffled split rounds). Rows with any other origin are left out. Raises ``SnapshotError`` when a split would be empty.
    """
    by_origin: dict[str, list[tuple[int, int]]] = {Split.TRAIN.value: [], Split.TEST.value: []}
    left_out = 0
    for review_id, label, origin in sorted(rows):
        if origin in by_origin:
            by_origin[origin].append((review_id, label))
        else:
            left_out += 1
    for origin, origin_members in by_origin.items():
        if not origin_members:
            raise SnapshotError(
                f"No labelled review comes from the source's {origin} split ({left_out} labelled review(s) have no "
                "source split): keeping the source's split needs reviews imported with it, e.g. IMDb from the hub, "
                "its parquet files or the aclImdb folder."
            )
    rng = random.Random(seed)
    members: dict[str, list[tuple[int, int]]] = {split.value: [] for split in SPLITS}
    by_label: dict[int, list[int]] = {}
    for review_id, label in by_origin[Split.TRAIN.value]:
        by_label.setdefault(label, []).append(review_id)
    # The same largest-remainder, stratified quotas as the reshuffled split, over the train half only.
    fractions = (1 - validation_fraction, validation_fraction)
    split_sizes = _largest_remainder(len(by_origin[Split.TRAIN.value]), fractions)
    quotas = _stratified_quotas({label: len(ids) for label, ids in by_label.items()}, split_sizes, fractions)
    for label in sorted(by_label):
        review_ids = by_label[label]
        rng.shuffle(review_ids)
        held_out = quotas[label][1]
        members[Split.VALIDATION.value].extend((review_id, label) for review_id in review_ids[:held_out])
        members[Split.TRAIN.value].extend((review_id, label) for review_id in review_ids[held_out:])
    members[Split.TEST.value] = list(by_origin[Split.TEST.value])
    planned: list[PlannedItem] = []
    for split in SPLITS:
        split_members = members[split.value]
        if not split_members:
            raise SnapshotError(
                f"The {split.label.lower()} split would be empty: the source's train half has too few reviews for a "
                f"validation fraction of {validation_fraction:g}."
            )
        rng.shuffle(split_members)
        planned.extend(
            PlannedItem(review_id, label, split.value, position) for position, (review_id, label) in enumerate(split_members)
        )
    return planned


def content_hash(items: Iterable[PlannedItem]) -> str:
    """The sha256 hex digest naming a snapshot's content.

    The hashed bytes are one line per item, sorted by review id ascending, each line the ASCII text
    ``f"{review_id},{label},{split}\\n"`` with the review id and label (0 or 1) in decimal and the split
    as ``train``, ``validation`` or ``test``; for example ``b"17,1,train\\n"``. Positions are not hashed:
    the hash names which reviews went where with which label.
    """
    digest = hashlib.sha256()
    lines = sorted((item.review_id, item.label, item.split) for item in items)
    digest.update("".join(f"{review_id},{label},{split}\n" for review_id, label, split in lines).encode("ascii"))
    return digest.hexdigest()


def snapshot_examples(*, snapshot: DatasetSnapshot | int, split: Split | str) -> list[tuple[int, str, int]]:
    """``(review id, text, label)`` for one split of a snapshot, in the split's shuffled order; one query."""
    if split not in Split.values:
        raise SnapshotError(f"Unknown split {split!r}: use one of {', '.join(Split.values)}.")
    return list(
        SnapshotItem.objects.filter(snapshot=snapshot, split=split)
        .order_by("position")
        .values_list("review_id", "review__text", "label")
    )


def snapshot_label_counts(*, snapshot: DatasetSnapshot | int) -> dict[str, dict[int, int]]:
    """How many items of each label each split holds: ``{"train": {0: 20000, 1: 20000}, ...}``."""
    counts: dict[str, dict[int, int]] = {split.value: {label.value: 0 for label in Label} for split in SPLITS}
    rows = (
        SnapshotItem.objects.filter(snapshot=snapshot)
        .values_list("split", "label")
        .annotate(n=Count("id"))
        .order_by()
    )
    for split, label, n in rows:
        counts[split][label] = n
    return counts


_NO_LABELLED_REVIEWS = {
    LabelSource.GOLD: (
        "There are no reviews with a gold label to snapshot. Import labelled reviews first "
        "(python manage.py import_reviews SOURCE), or snapshot resolved human labels instead."
    ),
    LabelSource.HUMAN: (
        "No review has a resolved human label yet. Label reviews in a labelling queue until they resolve, "
        "or snapshot gold labels instead."
    ),
    LabelSource.GOLD_AND_HUMAN: (
        "No review has a gold label or a resolved human label. Import labelled reviews "
        "(python manage.py import_reviews SOURCE) or label some first."
    ),
}


def _labelled_rows(source: LabelSource) -> list[tuple[int, int]]:
    reviews = Review.objects.order_by()
    if source == LabelSource.GOLD:
        query = reviews.filter(gold_label__isnull=False).values_list("id", "gold_label")
    elif source == LabelSource.HUMAN:
        # A "gold" resolution only repeats the dataset's label: human labels are the annotators' and ML admins'.
        query = (
            reviews.filter(resolution__isnull=False)
            .exclude(resolution__method=ResolutionMethod.GOLD)
            .values_list("id", "resolution__label")
        )
    else:
        # The gold label comes first, except where an ML admin settled the review otherwise (label noise).
        query = reviews.filter(Q(gold_label__isnull=False) | Q(resolution__isnull=False)).values_list(
            "id",
            Case(
                When(resolution__method=ResolutionMethod.SETTLED, then=F("resolution__label")),
                default=Coalesce("gold_label", "resolution__label"),
            ),
        )
    # Every row's label is set: the filters above keep only reviews with the label they read.
    return cast("list[tuple[int, int]]", list(query))


def _labelled_rows_with_origin(source: LabelSource) -> list[tuple[int, int, str]]:
    """``(review id, label, origin split)`` of the same reviews, with the same labels, as ``_labelled_rows``."""
    ids_and_labels = dict(_labelled_rows(source))
    origins = Review.objects.order_by().filter(origin_split__in=[OriginSplit.TRAIN, OriginSplit.TEST]).values_list("id", "origin_split")
    origin_of = dict(origins.iterator(chunk_size=10_000))
    return [(review_id, label, origin_of.get(review_id, "")) for review_id, label in ids_and_labels.items()]


def _insert_items(snapshot: DatasetSnapshot, planned: Sequence[PlannedItem]) -> None:
    """Write a snapshot's items in bulk, bypassing model instances, which cost more than the insert.

    PostgreSQL gets ``COPY``; other databases a parameterised ``executemany``. Either way 50,000 items
    take a few seconds, and the database still checks every constraint.
    """
    quote = connection.ops.quote_name
    table = quote(SnapshotItem._meta.db_table)
    fields = ("snapshot", "review", "split", "label", "position")
    columns = ", ".join(quote(concrete_column(SnapshotItem, field)) for field in fields)
    rows = [(snapshot.pk, item.review_id, item.split, item.label, item.position) for item in planned]
    with connection.cursor() as cursor:
        if _has_copy(connection.vendor):
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(fields))
        for start in range(0, len(rows), INSERT_BATCH_SIZE):
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", rows[start : start + INSERT_BATCH_SIZE]
            )


def _has_copy(vendor: str) -> bool:
    """PostgreSQL through psycopg 3, whose cursors stream rows with ``COPY``."""
    if vendor != "postgresql":
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return is_psycopg3


def _validated_fractions(*, train: float, validation: float, test: float) -> tuple[float, float, float]:
    given = {"train": train, "validation": validation, "test": test}
    for split, fraction in given.items():
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not math.isfinite(fraction):
            raise SnapshotError(f"The {split} fraction must be a number between 0 and 1, not {fraction!r}.")
        if fraction <= 0:
            raise SnapshotError(
                f"The {split} fraction is {fraction}; every split needs a positive fraction (e.g. 0.8 / 0.1 / 0.1)."
            )
    total = train + validation + test
    if abs(total - 1) > FRACTION_TOLERANCE:
        raise SnapshotError(
            f"The fractions must add up to 1; train {train} + validation {validation} + test {test} = {total:g}."
        )
    # Dividing out the tiny tolerated error keeps the stored fractions summing to 1.
    return (train / total, validation / total, test / total)


def _validated_label_source(label_source: LabelSource | str) -> LabelSource:
    try:
        return LabelSource(label_source)
    except ValueError:
        raise SnapshotError(
            f"Unknown label source {label_source!r}: use one of {', '.join(LabelSource.values)}."
        ) from None


def _validate_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise SnapshotError(f"The seed must be a whole number from 0 to {MAX_SEED}, not {seed!r}.")


def _largest_remainder(total: int, fractions: Sequence[float]) -> list[int]:
    """Whole shares of ``total`` as close to ``total * fraction`` as possible, summing to ``total``."""
    exact = [total * fraction for fraction in fractions]
    shares = [math.floor(value) for value in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (shares[i] - exact[i], i))
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _stratified_quotas(
    label_sizes: dict[int, int], split_sizes: Sequence[int], fractions: Sequence[float]
) -> dict[int, list[int]]:
    """How many reviews of each label go to each split.

    Every label's quotas sum to its size and every split's quotas sum to its size, each quota within
    a review or two of ``label size * fraction``: the splits keep the overall label balance.
    """
    labels = sorted(label_sizes)
    exact = {label: [label_sizes[label] * fraction for fraction in fractions] for label in labels}
    quotas = {label: [math.floor(value) for value in exact[label]] for label in labels}
    label_left = {label: label_sizes[label] - sum(quotas[label]) for label in labels}
    split_left = [size - sum(quotas[label][i] for label in labels) for i, size in enumerate(split_sizes)]
    cells = sorted(
        ((label, i) for label in labels for i in range(len(split_sizes))),
        key=lambda cell: (quotas[cell[0]][cell[1]] - exact[cell[0]][cell[1]], cell[0], cell[1]),
    )
    # The largest remainders get the leftover reviews first, one each; a second pass places whatever
    # the first could not (any label may go to any split, so both sums always come out).
    for label, i in cells:
        if label_left[label] > 0 and split_left[i] > 0:
            quotas[label][i] += 1
            label_left[label] -= 1
            split_left[i] -= 1
    for label, i in cells:
        extra = min(label_left[label], split_left[i])
        quotas[label][i] += extra
        label_left[label] -= extra
        split_left[i] -= extra
    return quotas
