"""Datasets on the Hugging Face hub (``hf:imdb``), loaded with ``datasets.load_dataset``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apps.reviews.importers.parquet import (
    BATCH_ROWS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    missing_columns_message,
    rows_from_columns,
)
from apps.reviews.importers.rows import ReviewImportError, ReviewReader, ReviewRow

IMDB_NAMES = {"imdb", "stanfordnlp/imdb"}
# The splits imported, in this order; a dataset's other splits follow in its own order.
SPLIT_ORDER = ("train", "test", "unsupervised")
LOCAL_COPY_HINT = (
    "To import without the hub, point at a local copy of IMDb: a folder of train/test/unsupervised parquet "
    "files, an aclImdb folder or aclImdb_v1.tar.gz, e.g. `python manage.py import_reviews ../shared/data/imdb`, "
    "or set IMDB_SOURCE=../shared/data/imdb."
)


class HubReader(ReviewReader):
    kind = "Hugging Face hub dataset"
    layout = "splits with the columns text and label"

    def __init__(self, location: str, name: str) -> None:
        super().__init__(location)
        self.name = name
        self._dataset: Any = None

    @property
    def default_source_name(self) -> str:
        return "imdb" if self.name.lower() in IMDB_NAMES else self.name.rsplit("/", 1)[-1]

    def total(self) -> int:
        return sum(len(split) for split in self._load().values())

    def rows(self) -> Iterator[ReviewRow]:
        dataset = self._load()
        names = sorted(dataset, key=lambda name: SPLIT_ORDER.index(name) if name in SPLIT_ORDER else len(SPLIT_ORDER))
        for split in names:
            rows = dataset[split]
            where = f"{self.location} split {split}"
            problem = missing_columns_message(where, rows.column_names)
            if problem:
                raise ReviewImportError(problem)
            wanted = [column for column in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if column in rows.column_names]
            selected = rows.select_columns(wanted)
            for start in range(0, len(selected), BATCH_ROWS):
                columns = selected[start : start + BATCH_ROWS]
                yield from rows_from_columns(columns, split=split, first_index=start, where=where, first_row=start + 1)

    def _load(self) -> Any:
        if self._dataset is None:
            self._dataset = _load_dataset(self.name, self.location)
        return self._dataset


def _load_dataset(name: str, location: str) -> Any:
    import datasets
    from datasets.exceptions import DatasetNotFoundError

    try:
        loaded = datasets.load_dataset(name)
    except DatasetNotFoundError as error:
        raise ReviewImportError(
            f"{location}: the Hugging Face hub has no dataset {name!r} (or it is private). {LOCAL_COPY_HINT}"
        ) from error
    except (ConnectionError, TimeoutError) as error:
        raise ReviewImportError(
            f"{location}: the Hugging Face hub could not be reached ({error}). {LOCAL_COPY_HINT}"
        ) from error
    except Exception as error:  # load_dataset raises many kinds; each becomes a message
        raise ReviewImportError(
            f"{location}: datasets.load_dataset({name!r}) failed: {error}. {LOCAL_COPY_HINT}"
        ) from error
    if not isinstance(loaded, datasets.DatasetDict):
        raise ReviewImportError(f"{location}: expected a dataset with splits, got {type(loaded).__name__}.")
    return loaded
