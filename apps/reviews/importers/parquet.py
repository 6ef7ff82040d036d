"""IMDb in the Hugging Face layout: ``train``/``test``/``unsupervised`` parquet files with ``text`` and ``label``."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from apps.reviews.importers.rows import (
    ImportLimits,
    ReviewImportError,
    ReviewReader,
    ReviewRow,
    checked_external_id,
    checked_label,
    checked_rating,
    checked_text,
    origin_split_for,
    size_text,
)

SPLITS = ("train", "test", "unsupervised")
REQUIRED_COLUMNS = ("text", "label")
OPTIONAL_COLUMNS = ("id", "rating")
BATCH_ROWS = 10_000
# train.parquet, or a shard as the hub stores it: train-00000-of-00001.parquet.
_SPLIT_FILE = re.compile(r"^(?P<split>train|test|unsupervised)(?:-\d+-of-\d+)?\.parquet$")


def rows_from_columns(
    columns: Mapping[str, Sequence[Any]], *, split: str, first_index: int, where: str, first_row: int
) -> Iterator[ReviewRow]:
    """Rows of one batch of a split, given as columns (``text``, ``label``, optional ``id`` and ``rating``).

    Rows without an ``id`` column are named ``<split>/<index within the split>``; ``first_row`` numbers
    rows within their file for error messages.
    """
    origin_split = origin_split_for(split)
    ids = columns.get("id")
    ratings = columns.get("rating")
    for offset, (text, label) in enumerate(zip(columns["text"], columns["label"], strict=True)):
        row = f"{where}, row {first_row + offset}"
        yield ReviewRow(
            external_id=(
                checked_external_id(ids[offset], where=row) if ids is not None else f"{split}/{first_index + offset}"
            ),
            text=checked_text(text, where=row),
            gold_label=checked_label(label, where=row),
            rating=checked_rating(ratings[offset], where=row) if ratings is not None else None,
            origin_split=origin_split,
        )


def missing_columns_message(where: str, found: Sequence[str]) -> str | None:
    missing = [column for column in REQUIRED_COLUMNS if column not in found]
    if not missing:
        return None
    return (
        f"{where}: no {' or '.join(repr(column) for column in missing)} column (it has: {', '.join(found) or 'none'}). "
        "IMDb files need the columns text and label (0 negative, 1 positive, -1 unlabelled), optionally id and rating."
    )


class ParquetReader(ReviewReader):
    kind = "parquet folder"
    layout = (
        "train.parquet, test.parquet and unsupervised.parquet (or hub shards such as train-00000-of-00001.parquet, "
        "also under plain_text/), with the columns text and label"
    )

    def __init__(self, location: str, files: Sequence[Path]) -> None:
        super().__init__(location)
        split_files = [(_split_of(path), path) for path in files]
        self.split_files = sorted(split_files, key=lambda item: (SPLITS.index(item[0]), item[1].name))

    @classmethod
    def find(cls, location: str, folder: Path) -> ParquetReader | None:
        """The reader for ``folder`` (or its ``plain_text/``) if it holds parquet files, else None."""
        for candidate in (folder, folder / "plain_text"):
            files = sorted(candidate.glob("*.parquet")) if candidate.is_dir() else []
            if files:
                return cls(location, files)
        return None

    def total(self) -> int:
        return sum(_open(path).metadata.num_rows for _, path in self.split_files)

    def rows(self) -> Iterator[ReviewRow]:
        next_index = dict.fromkeys(SPLITS, 0)
        for split, path in self.split_files:
            parquet = _open(path)
            _check_unpacked_size(parquet, path)
            names = parquet.schema_arrow.names
            problem = missing_columns_message(str(path), names)
            if problem:
                raise ReviewImportError(problem)
            wanted = [column for column in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if column in names]
            row_in_file = 1
            for columns in _batches(parquet, path, wanted):
                yield from rows_from_columns(
                    columns, split=split, first_index=next_index[split], where=str(path), first_row=row_in_file
                )
                row_in_file += len(columns["text"])
                next_index[split] += len(columns["text"])


def _split_of(path: Path) -> str:
    match = _SPLIT_FILE.match(path.name)
    if match is None:
        raise ReviewImportError(
            f"{path}: not an IMDb split file. Name parquet files after their split: train.parquet, test.parquet, "
            "unsupervised.parquet (or train-00000-of-00001.parquet), and move other parquet files out of the folder."
        )
    return match["split"]


def _check_unpacked_size(parquet: Any, path: Path) -> None:
    """Refuse, before reading it, a file whose row groups unpack to more than IMPORT_MAX_DECOMPRESSED_BYTES."""
    limit = ImportLimits.from_settings().decompressed_bytes
    metadata = parquet.metadata
    unpacked = sum(metadata.row_group(index).total_byte_size for index in range(metadata.num_row_groups))
    if unpacked > limit:
        raise ReviewImportError(
            f"{path}: unpacks to {size_text(unpacked)}, more than {size_text(limit)} (IMPORT_MAX_DECOMPRESSED_BYTES). "
            "Split it into smaller files."
        )


def _open(path: Path) -> Any:
    import pyarrow
    import pyarrow.parquet

    try:
        return pyarrow.parquet.ParquetFile(path)
    except (OSError, pyarrow.ArrowException) as error:
        raise ReviewImportError(f"{path}: not a readable parquet file ({error}).") from error


def _batches(parquet: Any, path: Path, columns: list[str]) -> Iterator[dict[str, list[Any]]]:
    import pyarrow

    batches = parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (OSError, pyarrow.ArrowException) as error:
            raise ReviewImportError(f"{path}: the parquet file is damaged ({error}).") from error
        yield batch.to_pydict()
