"""The normalised row every reader yields, the error every reader raises, and the checks they share."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple

from django.conf import settings

from apps.reviews.choices import OriginSplit

# Review.external_id's column width.
MAX_EXTERNAL_ID_LENGTH = 255
_LABEL_WORDS = {"negative": 0, "neg": 0, "0": 0, "positive": 1, "pos": 1, "1": 1, "-1": -1}
_ORIGIN_SPLITS = {
    "train": OriginSplit.TRAIN.value,
    "test": OriginSplit.TEST.value,
    "unsupervised": OriginSplit.UNSUPERVISED.value,
    "unsup": OriginSplit.UNSUPERVISED.value,
}


class ReviewImportError(Exception):
    """A source cannot be imported; the message names the file, the line or row, and the problem."""


class ImportLimits(NamedTuple):
    """What one import may hold, so that a small hostile file cannot exhaust a worker's memory or the database.

    ``review_chars``: the longest review; ``review_bytes``: the most bytes one review's file, archive member or
    line may take (UTF-8 needs up to 4 a character); ``members``: the most entries in an archive;
    ``decompressed_bytes``: the most bytes an archive or parquet file may unpack to.
    """

    review_chars: int
    members: int
    decompressed_bytes: int

    @property
    def review_bytes(self) -> int:
        return 4 * self.review_chars + 1024

    @classmethod
    def from_settings(cls) -> ImportLimits:
        return cls(
            review_chars=int(settings.IMPORT_MAX_REVIEW_CHARS),
            members=int(settings.IMPORT_MAX_ARCHIVE_MEMBERS),
            decompressed_bytes=int(settings.IMPORT_MAX_DECOMPRESSED_BYTES),
        )


def size_text(count: int) -> str:
    """Bytes for a person: 1.5 GB, 300.0 MB, 12 KB."""
    if count >= 1_000_000_000:
        return f"{count / 1_000_000_000:.1f} GB"
    return f"{count / 1_000_000:.1f} MB" if count >= 1_000_000 else f"{count / 1_000:.0f} KB"


class ReviewRow(NamedTuple):
    external_id: str
    text: str
    gold_label: int | None
    rating: int | None
    origin_split: str


class ReviewReader(ABC):
    """One source of reviews: ``rows()`` yields them in order and raises on the first bad one."""

    kind: ClassVar[str]
    # What a source of this kind holds, for the message when it holds no reviews.
    layout: ClassVar[str]

    def __init__(self, location: str) -> None:
        self.location = location

    @property
    def default_source_name(self) -> str:
        """The value stored in Review.source when the caller names none."""
        return "imdb"

    def total(self) -> int | None:
        """How many rows ``rows()`` will yield, where that is cheap to know (it sizes the progress bar)."""
        return None

    @abstractmethod
    def rows(self) -> Iterator[ReviewRow]: ...


def text_hash(text: str) -> str:
    """The external id of a review whose source gives none: re-importing the same text finds it again."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def checked_text(value: Any, *, where: str) -> str:
    if value is None:
        raise ReviewImportError(f"{where}: the review text is missing.")
    if not isinstance(value, str):
        raise ReviewImportError(f"{where}: the review text is {type(value).__name__} {value!r}, not text.")
    if not value.strip():
        raise ReviewImportError(f"{where}: the review text is empty.")
    if "\x00" in value:
        raise ReviewImportError(
            f"{where}: the review text contains a NUL character (\\x00); remove it and import again."
        )
    if not _encodable(value):
        raise ReviewImportError(
            f"{where}: the review text contains a lone surrogate (an escape like \\ud800 that is half a character); "
            "fix it and import again."
        )
    longest = ImportLimits.from_settings().review_chars
    if len(value) > longest:
        raise ReviewImportError(
            f"{where}: the review is {len(value):,} characters; the longest a review may be is {longest:,} "
            "(IMPORT_MAX_REVIEW_CHARS). Shorten it or leave it out."
        )
    return value


def _encodable(value: str) -> bool:
    """False for text JSON can carry but UTF-8 (and so PostgreSQL) cannot: a lone surrogate such as "\\ud800"."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def checked_external_id(value: Any, *, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ReviewImportError(f"{where}: the id {value!r} is not text or a whole number.")
    external_id = str(value).strip()
    if not external_id:
        raise ReviewImportError(f"{where}: the id is empty; give every row an id or leave the id column out.")
    if len(external_id) > MAX_EXTERNAL_ID_LENGTH or "\x00" in external_id or not _encodable(external_id):
        raise ReviewImportError(
            f"{where}: the id {external_id[:40]!r} is longer than {MAX_EXTERNAL_ID_LENGTH} characters or contains NUL."
        )
    return external_id


def checked_label(value: Any, *, where: str, field: str = "label", allow_unlabelled: bool = True) -> int | None:
    """0/1 or "negative"/"positive" (any case, surrounding spaces ignored); -1 or null for unlabelled."""
    label = _label_value(value)
    if label in (0, 1):
        return label
    if label == -1 and allow_unlabelled:
        return None
    expected = "positive or negative (or 1 / 0)"
    if allow_unlabelled:
        expected += "; -1 or null for an unlabelled review"
    shown = "empty" if value is None or (isinstance(value, str) and not value.strip()) else repr(value)
    raise ReviewImportError(f"{where}: {field} is {shown}; expected {expected}.")


def _label_value(value: Any) -> int | None:
    """The label as a number (-1 for unlabelled), or None when the value is no label at all."""
    if value is None:
        return -1
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return _LABEL_WORDS.get(value.strip().lower())
    return None


def checked_rating(value: Any, *, where: str) -> int | None:
    """A star rating 1-10; 0 or null means the source has none (IMDb's unlabelled reviews)."""
    if value is None or value == 0:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 10:
        return value
    raise ReviewImportError(
        f"{where}: rating is {value!r}; expected a whole number from 1 to 10 (0 or empty for none)."
    )


def origin_split_for(split: str) -> str:
    """IMDb's split names as stored on reviews; any other split (a hub dataset's 'validation') is stored as none."""
    return _ORIGIN_SPLITS.get(split, OriginSplit.NONE.value)
