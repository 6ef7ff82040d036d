"""Review files: CSV with ``review,sentiment`` (the Kaggle IMDb file) and JSON Lines with ``text`` and ``label``.

Rows without an id are named by the sha256 of their text, so importing the same file again finds them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from apps.reviews.importers.rows import (
    ImportLimits,
    ReviewImportError,
    ReviewReader,
    ReviewRow,
    checked_external_id,
    checked_label,
    checked_rating,
    checked_text,
    size_text,
    text_hash,
)

# Header names accepted for each column, the first one the Kaggle IMDb file's.
CSV_TEXT_COLUMNS = ("review", "text")
CSV_LABEL_COLUMNS = ("sentiment", "label")


class _FileReader(ReviewReader):
    def __init__(self, location: str, path: Path) -> None:
        super().__init__(location)
        self.path = path

    @property
    def default_source_name(self) -> str:
        return self.path.stem

    def _lines(self) -> Iterator[str]:
        """The file's lines as text; a line that is not UTF-8 stops the import with its number."""
        try:
            handle: IO[bytes] = self.path.open("rb")
        except OSError as error:
            raise ReviewImportError(f"{self.path}: cannot be opened ({error.strerror}).") from error
        longest = ImportLimits.from_settings().review_bytes
        with handle:
            # Lines are read up to a limit, so one enormous line cannot fill the worker's memory.
            for number, raw in enumerate(iter(lambda: handle.readline(longest + 1), b""), start=1):
                if len(raw) > longest:
                    raise ReviewImportError(
                        f"{self.path}, line {number}: longer than {size_text(longest)}, more than any review may "
                        f"be (IMPORT_MAX_REVIEW_CHARS = {ImportLimits.from_settings().review_chars:,} characters)."
                    )
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise ReviewImportError(
                        f"{self.path}, line {number}: not valid UTF-8 (byte 0x{raw[error.start]:02x} at column "
                        f"{error.start + 1}). Save the file as UTF-8 and import it again."
                    ) from None
                yield line.removeprefix("\ufeff") if number == 1 else line


def _row(
    *, external_id: Any, text: Any, label: Any, rating: Any, where: str, label_field: str, allow_unlabelled: bool
) -> ReviewRow:
    checked = checked_text(text, where=where)
    return ReviewRow(
        external_id=text_hash(checked) if external_id is None else checked_external_id(external_id, where=where),
        text=checked,
        gold_label=checked_label(label, where=where, field=label_field, allow_unlabelled=allow_unlabelled),
        rating=checked_rating(rating, where=where),
        origin_split="",
    )


class CsvReader(_FileReader):
    kind = "CSV file"
    layout = "a header line review,sentiment (or text,label, optionally id) and one review per row"

    def rows(self) -> Iterator[ReviewRow]:
        records = csv.reader(self._lines())
        header = self._next(records)
        if header is None:
            raise ReviewImportError(f"{self.path}: the file is empty; expected a header line review,sentiment.")
        columns = [name.strip().lower() for name in header]
        text_column = next((name for name in CSV_TEXT_COLUMNS if name in columns), None)
        label_column = next((name for name in CSV_LABEL_COLUMNS if name in columns), None)
        if text_column is None or label_column is None:
            missing = "review" if text_column is None else "sentiment"
            raise ReviewImportError(
                f"{self.path}, line 1: no {missing!r} column (the header has: {', '.join(header)}). "
                "Expected a header line review,sentiment (the Kaggle IMDb file) or text,label, optionally with id."
            )
        text_at, label_at = columns.index(text_column), columns.index(label_column)
        id_at = columns.index("id") if "id" in columns else None
        last_line = records.line_num
        while (record := self._next(records)) is not None:
            # A quoted review may span lines: errors name the line the record starts on.
            first_line, last_line = last_line + 1, records.line_num
            if not record:
                continue
            where = f"{self.path}, line {first_line}"
            if len(record) != len(header):
                raise ReviewImportError(
                    f"{where}: {len(record)} fields where the header has {len(header)} ({', '.join(header)}). "
                    'Put reviews that contain commas or line breaks in double quotes ("...").'
                )
            yield _row(
                external_id=record[id_at] if id_at is not None else None,
                text=record[text_at],
                label=record[label_at],
                rating=None,
                where=where,
                label_field=label_column,
                allow_unlabelled=False,
            )

    def _next(self, records: Any) -> list[str] | None:
        try:
            return next(records)
        except StopIteration:
            return None
        except csv.Error as error:
            raise ReviewImportError(f"{self.path}, line {records.line_num}: not valid CSV ({error}).") from error


class JsonlReader(_FileReader):
    kind = "JSON Lines file"
    layout = 'one JSON object per line, like {"text": "...", "label": "positive"}, optionally with "id" and "rating"'

    def rows(self) -> Iterator[ReviewRow]:
        for number, line in enumerate(self._lines(), start=1):
            if not line.strip():
                continue
            where = f"{self.path}, line {number}"
            try:
                record = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as error:
                raise ReviewImportError(f"{where}: not valid JSON ({error.msg} at column {error.colno}).") from None
            except RecursionError:
                # json gives up past Python's recursion limit: such a line is no review, and must not crash a worker.
                raise ReviewImportError(
                    f"{where}: nested too deeply to be a review; each line is one flat object."
                ) from None
            if not isinstance(record, dict):
                raise ReviewImportError(
                    f'{where}: expected an object like {{"text": "...", "label": "positive"}}, '
                    f"found {type(record).__name__}."
                )
            missing = [key for key in ("text", "label") if key not in record]
            if missing:
                raise ReviewImportError(
                    f"{where}: no {' or '.join(repr(key) for key in missing)} "
                    f"(the object has: {', '.join(record) or 'nothing'}). Every line needs text and label."
                )
            yield _row(
                external_id=record.get("id"),
                text=record["text"],
                label=record["label"],
                rating=record.get("rating"),
                where=where,
                label_field="label",
                allow_unlabelled=True,
            )
