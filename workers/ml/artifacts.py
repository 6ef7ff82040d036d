"""The artifact folder: the contract between the workers that write models and the predictor that reads them.

A folder holds the model files, a `manifest.json` (what the model is, how it was trained, a checksum
for every other file) and a model card `README.md`. It is written in a staging folder beside its final
place and renamed into place, so a reader sees a complete model or none.

Where models are kept is a `workers.ml.storage.Storage`: the local folder (ARTIFACT_ROOT) or object
storage. `publish_to_storage` moves a finished folder there (one rename locally; on object storage every
file first and the manifest last, so a model without its manifest is one still being written), and
`fetch_from_storage` gives a reader a local folder: the stored one itself, or a copy in a local cache
whose every file matched its manifest checksum when it was fetched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from workers.ml.config import TrainConfig
from workers.ml.data import LABEL_NAMES
from workers.ml.storage import Storage, StorageError

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
MODEL_CARD_NAME = "README.md"
# A manifest lists a few dozen files; one read from object storage beyond this size is refused unread.
MAX_MANIFEST_BYTES = 8 << 20
# Files without which a kind cannot be loaded; a manifest that lists none of them is not trusted.
REQUIRED_FILES = {
    "transformer": ("config.json", "model.safetensors", "tokenizer_config.json"),
    "tfidf": ("vocabulary.json", "weights.safetensors"),
    # The weights and where each member lies; the members' own files are under members/ (workers/ml/ensemble.py).
    "ensemble": ("ensemble.json",),
}


class ArtifactError(ValueError):
    """An artifact folder that cannot be used, with a message saying why."""


class ArtifactNotReady(ArtifactError):
    """A model whose manifest is not in storage (yet): its files may still be on their way, so none is read."""


@contextmanager
def staging_folder(output_dir: Path) -> Iterator[Path]:
    """A fresh folder beside `output_dir` that is removed again unless `publish` moved it into place."""
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.staging-", dir=output_dir.parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _listed_files(folder: Path) -> list[str]:
    return sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and path.relative_to(folder).as_posix() != MANIFEST_NAME
    )


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file())


def publish(
    staging: Path,
    output_dir: Path,
    *,
    kind: str,
    config: TrainConfig,
    metrics: dict[str, Any],
    epochs: list[dict[str, Any]],
    lineage: dict[str, Any],
    extra_hyperparameters: dict[str, Any],
    data_sizes: dict[str, int],
) -> dict[str, Any]:
    """Write the model card and manifest into `staging`, then rename it to `output_dir`."""
    is_transformer = kind == "transformer"
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "base_model": config.base_model if is_transformer else None,
        "label_map": {str(label): name for label, name in LABEL_NAMES.items()},
        "max_length": config.max_length if is_transformer else None,
        "truncation": config.truncation if is_transformer else None,
        "lowercase": config.lowercase,
        "metrics": metrics,
        "epochs": epochs,
        # Only the settings this kind reads: a TF-IDF model card lists no learning rate.
        "hyperparameters": {"kind": kind, **config.model_settings(), **extra_hyperparameters},
        "lineage": lineage,
        "data_sizes": data_sizes,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (staging / MODEL_CARD_NAME).write_text(model_card(manifest), encoding="utf-8")
    manifest["files"] = {
        name: {"sha256": file_digest(staging / name), "bytes": (staging / name).stat().st_size}
        for name in _listed_files(staging)
    }
    (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    # An empty folder made by the caller is fine to replace; rename fails if anything else appeared there.
    if output_dir.is_dir() and not any(output_dir.iterdir()):
        output_dir.rmdir()
    os.replace(staging, output_dir)
    return manifest


def read_manifest(path: Path) -> dict[str, Any]:
    """Read an artifact folder's manifest; raises ArtifactError when it is missing or not a JSON object."""
    manifest_path = Path(path) / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path} has no {MANIFEST_NAME}; it is not a model artifact folder.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactError(f"{manifest_path} cannot be read as JSON: {error}.") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{manifest_path} must hold a JSON object.")
    return manifest


def verify_artifacts(path: Path) -> list[str]:
    """Problems that make the folder untrustworthy: missing or changed files, unlisted files, a bad manifest.

    An empty list means every file is present and matches its recorded checksum.
    """
    folder = Path(path)
    if not folder.is_dir():
        return [f"{folder} is not a folder."]
    try:
        manifest = read_manifest(folder)
    except ArtifactError as error:
        return [str(error)]
    problems: list[str] = []
    if manifest.get("format_version") != FORMAT_VERSION:
        problems.append(
            f"Unsupported artifact format_version {manifest.get('format_version')!r}; this code reads version {FORMAT_VERSION}."
        )
    kind = manifest.get("kind")
    if kind not in REQUIRED_FILES:
        problems.append(f"Unknown model kind {kind!r} in the manifest; expected one of {', '.join(REQUIRED_FILES)}.")
    files = manifest.get("files")
    if not isinstance(files, dict):
        return [*problems, "The manifest has no 'files' table, so no file can be checked."]
    for required in REQUIRED_FILES.get(str(kind), ()):
        if required not in files:
            problems.append(f"The manifest does not list {required}, which a {kind} model needs.")
    for name, recorded in sorted(files.items()):
        target = (folder / name).resolve()
        if not target.is_relative_to(folder.resolve()) or name == MANIFEST_NAME:
            problems.append(f"The manifest lists {name!r}, which is not a file inside the artifact folder.")
            continue
        if not isinstance(recorded, dict) or not {"sha256", "bytes"} <= recorded.keys():
            problems.append(f"The manifest entry for {name} lacks its sha256 or size.")
        elif not target.is_file():
            problems.append(f"Missing file {name}.")
        elif target.stat().st_size != recorded["bytes"] or file_digest(target) != recorded["sha256"]:
            problems.append(f"Checksum mismatch for {name}: the file changed after the model was written.")
    for name in _listed_files(folder):
        if name not in files:
            problems.append(f"Unexpected file {name}: it is not listed in the manifest.")
    return problems


def publish_to_storage(folder: Path, storage: Storage, name: str) -> None:
    """Put the finished artifact folder `folder` at `name` in `storage`, so that readers see all of it or none.

    Refused (ArtifactError) when the folder fails its own checks or `name` is already published. On
    object storage the files go up one by one and the manifest goes last; the local folder is removed
    once everything is up, as a rename would have.
    """
    folder = Path(folder)
    problems = verify_artifacts(folder)
    if problems:
        raise ArtifactError(f"{folder} cannot be published: " + " ".join(problems))
    if storage.is_local:
        if Path(storage.path(name)).exists():
            raise ArtifactError(f"{storage.url_of(name)} already exists; publish each model under a new name.")
        storage.move_folder_in(folder, name)
        return
    if storage.exists(f"{name}/{MANIFEST_NAME}"):
        raise ArtifactError(f"{storage.url_of(name)} is already published; publish each model under a new name.")
    for listed in _listed_files(folder):
        storage.put_file(folder / listed, f"{name}/{listed}")
    storage.put_file(folder / MANIFEST_NAME, f"{name}/{MANIFEST_NAME}")
    shutil.rmtree(folder, ignore_errors=True)


def fetch_from_storage(storage: Storage, name: str, cache_dir: Path) -> Path:
    """A local folder holding the model published at `name`.

    Local storage: the stored folder itself (`verify_artifacts` and `load_model` check it where it lies).
    Object storage: a copy under `cache_dir`, fetched once per process tree; every file's sha256 and size
    must match the manifest, and a mismatch is refused (ArtifactError) without caching anything. A name
    with no manifest yet raises ArtifactNotReady: its files may still be uploading.
    """
    storage.path(name)  # refuses a name that would leave the storage
    if storage.is_local:
        return Path(storage.path(name))
    cached = Path(cache_dir) / name
    if _whole_copy(cached):
        return cached
    manifest_bytes, files = _stored_manifest(storage, name)
    if _whole_copy(cached):
        return cached  # another process of this machine replaced a damaged copy meanwhile
    if cached.exists():
        # A damaged copy (a file gone or cut short, no manifest): set aside in one rename, fetched afresh below.
        damaged = cached.with_name(f".{cached.name}.damaged-{os.getpid()}-{time.monotonic_ns()}")
        try:
            os.replace(cached, damaged)
        except FileNotFoundError:
            pass  # another process set it aside first
        shutil.rmtree(damaged, ignore_errors=True)
    cached.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{cached.name}.fetching-", dir=cached.parent))
    try:
        for listed, recorded in sorted(files.items()):
            _fetch_checked(storage, name, listed, recorded, staging)
        (staging / MANIFEST_NAME).write_bytes(manifest_bytes)
        problems = verify_artifacts(staging)
        if problems:
            raise ArtifactError(f"{storage.url_of(name)} cannot be used: " + " ".join(problems))
        try:
            os.replace(staging, cached)
        except OSError:
            # Another process of this machine fetched it meanwhile; its copy was checked the same way.
            if not (cached / MANIFEST_NAME).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return cached


def _whole_copy(cached: Path) -> bool:
    """Whether the cached copy has its manifest and every file it lists at its size (the loader checks the sha256)."""
    try:
        files = json.loads((cached / MANIFEST_NAME).read_bytes())["files"]
        return all((cached / listed).stat().st_size == recorded["bytes"] for listed, recorded in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def read_stored_file(storage: Storage, name: str, listed: str, cache_dir: Path) -> bytes:
    """One file of a published model (its model card, say), checked against the manifest, without fetching the rest."""
    if storage.is_local:
        return (Path(storage.path(name)) / listed).read_bytes()
    cached = Path(cache_dir) / name
    if _whole_copy(cached):
        return (cached / listed).read_bytes()
    _, files = _stored_manifest(storage, name)
    recorded = files.get(listed)
    if not isinstance(recorded, dict):
        raise ArtifactError(f"The manifest of {storage.url_of(name)} does not list {listed}.")
    data = storage.read_bytes(f"{name}/{listed}")
    if hashlib.sha256(data).hexdigest() != recorded.get("sha256"):
        raise ArtifactError(_mismatch(storage, name, listed))
    return data


def _stored_manifest(storage: Storage, name: str) -> tuple[bytes, dict[str, Any]]:
    try:
        manifest_bytes = storage.read_bytes(f"{name}/{MANIFEST_NAME}", limit=MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        raise ArtifactNotReady(
            f"{storage.url_of(name)} has no {MANIFEST_NAME}: the model is not published yet (its files may still be "
            "uploading), or its upload stopped part way. Wait for its training run to succeed, or retrain it."
        ) from None
    if len(manifest_bytes) > MAX_MANIFEST_BYTES:
        raise ArtifactError(
            f"{storage.url_of(name)}/{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES // (1 << 20)} MiB, far more than "
            "a model's manifest holds: it is not one the platform wrote, so the model is refused."
        )
    try:
        manifest = json.loads(manifest_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactError(f"{storage.url_of(name)}/{MANIFEST_NAME} cannot be read as JSON: {error}.") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        raise ArtifactError(f"{storage.url_of(name)}/{MANIFEST_NAME} has no 'files' table, so no file can be checked.")
    return manifest_bytes, files


def _fetch_checked(storage: Storage, name: str, listed: str, recorded: Any, staging: Path) -> None:
    if listed == MANIFEST_NAME or not isinstance(recorded, dict) or not {"sha256", "bytes"} <= recorded.keys():
        raise ArtifactError(f"The manifest of {storage.url_of(name)} has a bad entry for {listed!r}.")
    key = f"{name}/{listed}"
    target = staging / listed
    try:
        storage.path(key)
        # The name chooses where the copy lands on this machine: an absolute one ("/etc/x") would leave the cache.
        outside = listed.startswith("/") or not target.resolve().is_relative_to(staging.resolve())
    except StorageError:
        outside = True
    if outside:
        raise ArtifactError(f"The manifest of {storage.url_of(name)} lists {listed!r}, which is not a file of the model.")
    try:
        # Its size first: an object far larger than the manifest says is refused before it fills this disk.
        if storage.size(key) != recorded["bytes"]:
            raise ArtifactError(_mismatch(storage, name, listed))
        storage.get_file(key, target)
    except FileNotFoundError:
        raise ArtifactError(f"{storage.url_of(key)} is missing, though the manifest lists it. Retrain the model.") from None
    if target.stat().st_size != recorded["bytes"] or file_digest(target) != recorded["sha256"]:
        raise ArtifactError(_mismatch(storage, name, listed))


def _mismatch(storage: Storage, name: str, listed: str) -> str:
    return (
        f"{storage.url_of(name + '/' + listed)} does not match the checksum its manifest records: the stored object "
        "was changed or damaged after the model was published, so the model is refused. Restore the object from a "
        "backup, or retrain the model."
    )


def _table(rows: list[tuple[str, str]]) -> str:
    return "\n".join(["| | |", "| --- | --- |", *(f"| {key} | {value} |" for key, value in rows)])


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _adaptation_note(hyperparameters: dict[str, Any]) -> str:
    """The model card's domain-adaptation section (workers/ml/domain.py), or nothing when the run had none."""
    if not hyperparameters.get("mlm_steps"):
        return ""
    return f"""
## Domain adaptation
Before fine-tuning, the base model's encoder was pre-trained further with masked-language modelling on
{hyperparameters.get('mlm_reviews_used')} unlabelled reviews of the platform for {hyperparameters['mlm_steps']} steps
({hyperparameters.get('mlm_probability', 0.15):.0%} of tokens masked, learning rate {hyperparameters.get('mlm_learning_rate')},
mean masked-token loss {hyperparameters.get('mlm_mean_loss')}; masked-language-modelling head
{hyperparameters.get('mlm_head')}). No labels were used for it.
"""


def model_card(manifest: dict[str, Any]) -> str:
    kind = manifest["kind"]
    metrics = manifest["metrics"]
    title = f"fine-tuned {manifest['base_model']}" if kind == "transformer" else "TF-IDF + logistic regression"
    [[tn, fp], [fn, tp]] = metrics["confusion_matrix"]
    truncation_note = (
        f"Reviews longer than {manifest['max_length']} tokens are cut ({manifest['truncation']} truncation), "
        "so sentiment stated only in the removed part is not seen."
        if kind == "transformer"
        else f"Word order beyond {manifest['hyperparameters'].get('tfidf_ngram_max', 2)}-word phrases is ignored, "
        "so negation and sarcasm are often missed."
    )
    epoch_rows = "\n".join(
        f"| {event['epoch']} | {event['train_loss']:.4f} | {event['validation_loss']:.4f} "
        f"| {event['validation_accuracy']:.4f} | {event['validation_f1']:.4f} |"
        for event in manifest["epochs"]
    )
    return f"""# Sentiment model: {title}

Created {manifest['created_at']}. Labels: 0 = negative, 1 = positive.

## Intended use
Classifying English movie reviews (IMDb style) as positive or negative, with a confidence, to suggest
labels to analysts and to answer prediction requests. Not for other languages or domains without
re-evaluation, and not for decisions about people.

## Data lineage
{_table([(key, str(value)) for key, value in manifest['lineage'].items()] or [("source", "not recorded")])}

Reviews per split: {', '.join(f"{name} {count}" for name, count in manifest['data_sizes'].items())}.

## Hyperparameters
{_table([(key, str(value)) for key, value in manifest['hyperparameters'].items()])}
{_adaptation_note(manifest['hyperparameters'])}
## Test metrics (held-out test split, computed once after training)
{_table([(name, _number(metrics[name])) for name in ("accuracy", "precision", "recall", "f1", "f1_macro", "support")])}

Precision, recall and F1 are for the positive class.

## Confusion matrix (test split)
| | predicted negative | predicted positive |
| --- | --- | --- |
| gold negative | {tn} | {fp} |
| gold positive | {fn} | {tp} |

## Validation per epoch
| epoch | train loss | validation loss | validation accuracy | validation F1 |
| --- | --- | --- | --- | --- |
{epoch_rows}

## Limitations
- {truncation_note}
- Every review is forced into positive or negative; mixed or neutral reviews get one of the two.
- Confidence is the model's probability for its label, not a calibrated guarantee.
- The metrics come from one test split drawn from the same data as training; reviews from other
  sites, periods or writing styles may score lower.
"""
