"""``python manage.py import_reviews``: what a person at the command line sees."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.common.choices import JobStatus
from apps.reviews.models import ImportJob, Review
from tests.reviews.conftest import run_manage


@pytest.mark.django_db
def test_the_command_imports_shows_progress_on_stderr_and_reports_the_counts(
    parquet_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("import_reviews", str(parquet_folder))
    call_command("import_reviews", str(parquet_folder))

    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"Read 9 reviews from {parquet_folder} in ")
    assert lines[0].endswith("as source 'imdb': 9 new, 0 already present.")
    assert lines[1].endswith("as source 'imdb': 0 new, 9 already present.")
    assert "Importing: 100%" in err
    assert "9/9" in err


@pytest.mark.django_db
def test_verbosity_0_imports_quietly(parquet_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("import_reviews", str(parquet_folder), verbosity=0)

    assert capsys.readouterr() == ("", "")
    assert Review.objects.count() == 9


@pytest.mark.django_db
def test_without_a_source_the_command_imports_imdb_source(parquet_folder: Path, settings: object) -> None:
    settings.IMDB_SOURCE = str(parquet_folder)  # type: ignore[attr-defined]

    call_command("import_reviews", verbosity=0)

    assert Review.objects.count() == 9


@pytest.mark.django_db
def test_source_name_option_files_the_reviews_under_that_name(tmp_path: Path) -> None:
    csv_file = tmp_path / "IMDB Dataset.csv"
    csv_file.write_text("review,sentiment\nGreat.,positive\n")

    call_command("import_reviews", str(csv_file), "--source-name", "kaggle", verbosity=0)

    assert list(Review.objects.values_list("source", flat=True)) == ["kaggle"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "does/not/exist.csv",
            "does/not/exist.csv: no such file or folder. Give one of: hf:imdb (the Hugging Face hub)",
        ),
        ("hf:", "hf:: give the dataset's name after 'hf:', as in hf:imdb."),
    ],
)
def test_a_source_that_cannot_be_found_is_an_error_with_what_to_give_instead(source: str, message: str) -> None:
    with pytest.raises(CommandError) as error:
        call_command("import_reviews", source, verbosity=0)

    assert str(error.value).startswith(message)
    assert str(error.value).endswith("\nNothing was imported.")
    job = ImportJob.objects.get()
    assert (job.status, job.source) == (JobStatus.FAILED, source)


@pytest.mark.django_db
def test_a_file_of_an_unknown_kind_is_an_error(tmp_path: Path) -> None:
    notes = tmp_path / "reviews.xlsx"
    notes.write_bytes(b"PK")

    with pytest.raises(CommandError, match=r"reviews\.xlsx: not a kind of file that can be imported"):
        call_command("import_reviews", str(notes), verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_a_bad_file_exits_non_zero_with_the_message_on_stderr_and_imports_nothing(tmp_path: Path) -> None:
    csv_file = tmp_path / "reviews.csv"
    csv_file.write_text("review,sentiment\nGreat.,positive\nMeh.,neutral\n")

    finished = run_manage("import_reviews", str(csv_file))

    assert finished.returncode == 1
    assert finished.stdout == ""
    assert finished.stderr.endswith(
        f"CommandError: {csv_file}, line 3: sentiment is 'neutral'; expected positive or negative (or 1 / 0).\n"
        "Nothing was imported.\n"
    )
    assert "Traceback" not in finished.stderr
    assert Review.objects.count() == 0
    job = ImportJob.objects.get()
    assert job.status == JobStatus.FAILED
    assert "line 3: sentiment is 'neutral'" in job.error


@pytest.mark.django_db(transaction=True)
def test_hf_imdb_without_the_hub_says_so_and_how_to_import_a_local_copy(tmp_path: Path) -> None:
    finished = run_manage("import_reviews", "hf:imdb", "-v0", HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))

    assert finished.returncode == 1
    assert "Traceback" not in finished.stderr
    assert "CommandError: hf:imdb: the Hugging Face hub could not be reached" in finished.stderr
    assert "IMDB_SOURCE=../shared/data/imdb" in finished.stderr
    assert "python manage.py import_reviews ../shared/data/imdb" in finished.stderr
    assert Review.objects.count() == 0
    assert ImportJob.objects.get().status == JobStatus.FAILED
