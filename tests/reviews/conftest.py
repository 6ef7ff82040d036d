"""Small review sources for the import tests: IMDb as parquet, as aclImdb folder and tarball, CSV and JSONL."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.db import connection

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SampleReview:
    external_id: str
    text: str
    label: int
    rating: int

    @property
    def split(self) -> str:
        return "unsupervised" if "/unsup/" in self.external_id else self.external_id.split("/")[0]


# IMDb in miniature: ids, labels and ratings as the real dataset has them (unlabelled: -1, rating 0).
IMDB_SAMPLE = (
    SampleReview("train/neg/0_3", "A dull film with nothing to say.", 0, 3),
    SampleReview("train/neg/1_1", "Terrible acting.<br /><br />And a worse plot.", 0, 1),
    SampleReview("train/pos/0_9", "Wonderful, moving and funny.", 1, 9),
    SampleReview("train/pos/1_10", "A masterpiece, from the first shot to the last.", 1, 10),
    SampleReview("train/pos/2_7", "Good fun; the café scene is a delight.", 1, 7),
    SampleReview("test/neg/0_2", "I walked out after an hour.", 0, 2),
    SampleReview("test/pos/0_8", "Loved every minute of it.", 1, 8),
    SampleReview("train/unsup/0_0", "Saw it on a plane.", -1, 0),
    SampleReview("train/unsup/1_0", "My brother liked it, I did not.", -1, 0),
)


def write_parquet(
    path: Path, reviews: Sequence[SampleReview], *, with_ids: bool = True, with_ratings: bool = True
) -> Path:
    columns: dict[str, pa.Array] = {}
    if with_ids:
        columns["id"] = pa.array([review.external_id for review in reviews], pa.string())
    columns["text"] = pa.array([review.text for review in reviews], pa.string())
    columns["label"] = pa.array([review.label for review in reviews], pa.int8())
    if with_ratings:
        columns["rating"] = pa.array([review.rating for review in reviews], pa.int8())
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


def write_parquet_folder(folder: Path, reviews: Sequence[SampleReview] = IMDB_SAMPLE, **options: bool) -> Path:
    """``train.parquet``, ``test.parquet`` and ``unsupervised.parquet``, as /work/shared/data/imdb has them."""
    for split in ("train", "test", "unsupervised"):
        write_parquet(folder / f"{split}.parquet", [review for review in reviews if review.split == split], **options)
    return folder


def write_aclimdb(folder: Path, reviews: Sequence[SampleReview] = IMDB_SAMPLE) -> Path:
    """An ``aclImdb`` folder with the files the original has beside the reviews."""
    root = folder / "aclImdb"
    for review in reviews:
        path = root / f"{review.external_id}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(review.text, encoding="utf-8")
    (root / "README").write_text("Large Movie Review Dataset v1.0\n")
    (root / "imdb.vocab").write_text("the\nand\n")
    (root / "train" / "urls_pos.txt").write_text("http://www.imdb.com/title/tt0453418/usercomments\n")
    return root


def write_tarball(root: Path, path: Path) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        archive.add(root, arcname="aclImdb")
    return path


@pytest.fixture
def parquet_folder(tmp_path: Path) -> Path:
    return write_parquet_folder(tmp_path / "imdb")


@pytest.fixture
def aclimdb_folder(tmp_path: Path) -> Path:
    return write_aclimdb(tmp_path / "download")


@pytest.fixture
def aclimdb_tarball(aclimdb_folder: Path, tmp_path: Path) -> Path:
    return write_tarball(aclimdb_folder, tmp_path / "aclImdb_v1.tar.gz")


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python manage.py ARGS`` as a user runs it, on the tests' database (commit what it must see)."""
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.skip("manage.py runs in a process of its own, which needs the tests' PostgreSQL database")
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    environment.update(
        DATABASE_URL=f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
        SECRET_KEY=os.environ.get("SECRET_KEY", "test-only-secret-key"),
        **env,
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
