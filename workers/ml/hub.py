"""The Hugging Face Hub: a model version as a standard Hub model folder, publishing it, and bringing in a
sequence classifier fine-tuned elsewhere.

- `export_folder` turns a transformer artifact folder into what `transformers.pipeline("text-classification",
  model=FOLDER)` loads: config.json with "negative"/"positive" labels, model.safetensors, the tokenizer and a
  README.md model card whose YAML header carries the Hub's metadata (license, base_model, datasets,
  pipeline_tag, model-index with the test metrics and the snapshot's content hash).
- `publish_folder` sends such a folder with huggingface_hub's own client (`create_repo`, `upload_folder`).
- `import_external` takes a Hub id or a local folder holding a fine-tuned two-label classifier, maps its
  labels onto ours (swapping the output rows when its order is the reverse), and saves it as a base for an
  artifact folder; `register_external` scores it on a test split and publishes the artifact folder.

Only safetensors and JSON are read, and no code shipped with a model ever runs (trust_remote_code off).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workers.ml import artifacts
from workers.ml.config import TrainConfig
from workers.ml.data import LABEL_NAMES, Example
from workers.ml.hub_files import HubError as HubError  # defined beside the folder checks; raised from here too
from workers.ml.hub_files import refuse_links_out, refuse_shards_out
from workers.ml.metrics import classification_metrics

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from workers.ml import Score

# What the Hub's model card says about the data; the platform's snapshots are IMDb reviews and labels.
DEFAULT_DATASETS = ("stanfordnlp/imdb",)
DEFAULT_LICENSE = "apache-2.0"
# Label names models trained elsewhere use for the two classes, lowercased; LABEL_0/LABEL_1 (no names
# given) follow the usual convention of binary sentiment sets such as SST-2 and IMDb: 0 negative, 1 positive.
NEGATIVE_NAMES = {"negative", "neg", "label_0", "0", "bad"}
POSITIVE_NAMES = {"positive", "pos", "label_1", "1", "good"}
# Files a Hub download needs; nothing pickled (pytorch_model.bin, *.pt, *.ckpt) and no code (*.py).
DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "merges.txt", "README.md"]
# Settings of a training run that a model trained elsewhere does not tell.
UNKNOWN_TRAINING_SETTINGS = (
    "learning_rate", "batch_size", "epochs", "weight_decay", "warmup_ratio", "early_stopping_patience", "seed",
    "subset_size", "eval_subset_size",
)  # fmt: skip
# Longest input the platform feeds a model it did not train: what these encoders were pre-trained with.
MAX_IMPORT_LENGTH = 512
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}")
_REPO_PART = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")


def repo_id_problem(repo_id: str) -> str | None:
    """Why `repo_id` is not a Hub model repository id of the form "owner/name", or None when it is."""
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts):
        return f"{repo_id!r} is not a Hub repository id: write it as owner/name (your user or organisation, a slash, the model's name)."
    for part in parts:
        if not _REPO_PART.fullmatch(part) or "--" in part or ".." in part or part.endswith(".git"):
            return (
                f"{repo_id!r} is not a valid Hub repository id: owner and name use letters, digits, '-', '_' and "
                "'.', start and end with a letter or digit, hold no '--' or '..', and are at most 96 characters."
            )
    return None


def revision_problem(revision: str) -> str | None:
    """Why `revision` is not a branch, tag or commit name of a Hub repository, or None when it is (or is empty).

    huggingface_hub's cache keeps a branch's commit in a file named by it, so a name with '..' would lead out.
    """
    if revision and (not _REVISION.fullmatch(revision) or ".." in revision or revision.endswith("/")):
        return (
            f"{revision!r} is not a Hub revision: give a branch, a tag or a commit hash (letters, digits, '.', '_', "
            "'-', '/' between parts; no '..'), at most 100 characters."
        )
    return None


def hub_token() -> str:
    """The Hub token from HF_TOKEN, or a refusal that says how to give one."""
    token = os.environ.get("HF_TOKEN", "").strip()
    if not token:
        raise HubError(
            "No Hugging Face token: set HF_TOKEN (a token with write access, from huggingface.co/settings/tokens) "
            "in the environment of the web processes and the workers, then publish again."
        )
    return token


# --- Export -------------------------------------------------------------------------------------------


def exportable_problem(manifest: dict[str, Any]) -> str | None:
    """Why a version with this manifest cannot become a Hub transformer model, or None."""
    kind = manifest.get("kind")
    if kind != "transformer":
        what = "a TF-IDF + logistic regression model" if kind == "tfidf" else f"a model of kind {kind!r}"
        return (
            f"It is {what}, not a transformer: there is no config.json and no encoder weights to load with "
            "transformers, so it cannot be exported as a Hub model. Export a fine-tuned transformer version instead."
        )
    if manifest.get("label_map") != {str(label): name for label, name in LABEL_NAMES.items()}:
        return f"Its labels are {manifest.get('label_map')!r}, not the two labels 0 negative and 1 positive."
    return None


def export_folder(
    artifact_dir: Path,
    output_dir: Path,
    *,
    model_name: str,
    base_model: str | None = None,
    license: str = DEFAULT_LICENSE,
    datasets: Sequence[str] = DEFAULT_DATASETS,
) -> Path:
    """Write a standard Hub model folder for the transformer artifact folder `artifact_dir` into `output_dir`.

    `base_model` (default: the manifest's) is named in the card's metadata when it is a Hub id.

    Refused (HubError) when the artifacts fail their checksums, are not a transformer or not two-label.
    """
    artifact_dir, output_dir = Path(artifact_dir), Path(output_dir)
    problems = artifacts.verify_artifacts(artifact_dir)
    if problems:
        raise HubError("The model's artifact files failed their integrity check: " + " ".join(problems))
    manifest = artifacts.read_manifest(artifact_dir)
    problem = exportable_problem(manifest)
    if problem:
        raise HubError(f"This model cannot be exported: {problem}")
    config = json.loads((artifact_dir / "config.json").read_text(encoding="utf-8"))
    id2label = {str(key): value for key, value in (config.get("id2label") or {}).items()}
    if id2label != {str(label): name for label, name in LABEL_NAMES.items()}:
        raise HubError(f"This model cannot be exported: its config.json labels are {id2label!r}, not 0 negative and 1 positive.")
    output_dir.mkdir(parents=True, exist_ok=True)
    for source in sorted(artifact_dir.rglob("*")):
        name = source.relative_to(artifact_dir).as_posix()
        if source.is_file() and name not in (artifacts.MANIFEST_NAME, artifacts.MODEL_CARD_NAME):
            (output_dir / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, output_dir / name)
    # `pipeline(..., truncation=True)` then cuts where the platform does (the platform keeps head and tail).
    tokenizer_config_path = output_dir / "tokenizer_config.json"
    tokenizer_config = json.loads(tokenizer_config_path.read_text(encoding="utf-8"))
    tokenizer_config["model_max_length"] = manifest["max_length"]
    tokenizer_config_path.write_text(json.dumps(tokenizer_config, indent=2, sort_keys=True), encoding="utf-8")
    (output_dir / "README.md").write_text(
        hub_model_card(
            {**manifest, "base_model": base_model or manifest.get("base_model")},
            model_name=model_name, license=license, datasets=datasets,
        ),
        encoding="utf-8",
    )
    return output_dir


def _hub_id_or_none(base_model: str | None) -> str | None:
    """`base_model` when it names a Hub repository (a local folder means nothing to the Hub's metadata)."""
    if not base_model or Path(base_model).expanduser().exists() or base_model.startswith(("/", ".", "~")):
        return None
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(base_model)  # "distilbert-base-uncased", with no owner, is a Hub id too
    except HFValidationError:
        return None
    return base_model


def hub_model_card(manifest: dict[str, Any], *, model_name: str, license: str, datasets: Sequence[str]) -> str:
    """The platform's model card with the Hub's YAML header: metadata first, then the card as the platform writes it."""
    from huggingface_hub import EvalResult, ModelCardData

    metrics = manifest["metrics"]
    lineage = manifest.get("lineage") or {}
    snapshot = lineage.get("snapshot_name") or lineage.get("snapshot_id") or "not recorded"
    results = [
        EvalResult(
            task_type="text-classification",
            task_name="Sentiment analysis",
            dataset_type=datasets[0] if datasets else "imdb",
            dataset_name=f"IMDb reviews, platform snapshot {snapshot}",
            dataset_split="test",
            # The snapshot's content hash: exactly which reviews and labels the metrics come from.
            dataset_revision=lineage.get("snapshot_content_hash"),
            metric_type=name,
            metric_name=name,
            metric_value=float(metrics[name]),
        )
        for name in ("accuracy", "f1", "precision", "recall")
        if isinstance(metrics.get(name), (int, float))
    ]
    data = ModelCardData(
        license=license,
        base_model=_hub_id_or_none(manifest.get("base_model")),
        datasets=list(datasets),
        language=["en"],
        pipeline_tag="text-classification",
        library_name="transformers",
        tags=["sentiment-analysis", "text-classification"],
        model_name=model_name,
        eval_results=results or None,
    )
    usage = f"""## How to use
```python
from transformers import pipeline

classify = pipeline("text-classification", model="{model_name}")
classify("a wonderful film, i loved it", truncation=True)
```
The platform that trained it {'lowercases reviews and ' if manifest.get('lowercase') else ''}replaces `<br />`
tags with spaces before tokenising, and keeps {'the start and the end' if manifest.get('truncation') == 'head_tail' else 'the start'}
of reviews longer than {manifest['max_length']} tokens; text prepared the same way gets the same answers.
"""
    body = artifacts.model_card(manifest)
    title, _, rest = body.partition("\n")
    return f"---\n{data.to_yaml()}\n---\n\n{title}\n\n{usage}{rest}"


# --- Publish ------------------------------------------------------------------------------------------


def publish_folder(folder: Path, *, repo_id: str, private: bool, token: str, commit_message: str) -> dict[str, str]:
    """Create (or reuse) the Hub repository `repo_id` and upload `folder` to it as one commit.

    The Hub's address comes from HF_ENDPOINT when it is set (a mirror, or a test server), else huggingface.co.
    """
    from huggingface_hub import HfApi

    problem = repo_id_problem(repo_id)
    if problem:
        raise HubError(problem)
    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)
    repo_url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id, repo_type="model", folder_path=str(folder), commit_message=commit_message
    )
    return {"repo_url": str(repo_url), "commit_url": commit.commit_url, "commit_oid": commit.oid or ""}


# --- Models trained elsewhere -----------------------------------------------------------------------------


def fetch_external(source: str, *, revision: str | None = None) -> tuple[Path, str]:
    """A local folder holding the model `source` names, and the revision it is at ("local" for a folder).

    A Hub id is downloaded (safetensors, JSON and tokenizer files only) with huggingface_hub's
    `snapshot_download`, which answers from its cache when HF_HUB_OFFLINE is set.
    """
    folder = Path(source).expanduser()
    if folder.is_dir():
        refuse_links_out(folder)
        return folder, "local"
    problem = repo_id_problem(source)
    if problem:
        raise HubError(f"{source!r} is neither a folder on the workers nor a Hub model id: {problem}")
    problem = revision_problem(revision or "")
    if problem:
        raise HubError(problem)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    try:
        path = Path(snapshot_download(repo_id=source, revision=revision, allow_patterns=DOWNLOAD_PATTERNS))
    except RepositoryNotFoundError:
        raise HubError(f"The Hub has no model {source!r} (or it is private and HF_TOKEN cannot read it).") from None
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as error:
        raise HubError(
            f"The model {source!r} could not be downloaded from the Hub ({type(error).__name__}): check the workers "
            "reach the Hub (or HF_ENDPOINT), or copy the model folder onto the workers and register the folder."
        ) from None
    return path, path.name


def label_order(id2label: dict[Any, Any]) -> tuple[int, int]:
    """(index of the negative class, index of the positive class) in a two-label model's outputs.

    Refused (HubError) unless the model has exactly two labels that read as negative and positive.
    """
    labels = {int(key): str(value) for key, value in id2label.items()}
    if len(labels) != 2 or set(labels) != {0, 1}:
        raise HubError(
            f"The model has {len(labels)} labels ({', '.join(labels.values())}): the platform takes two-label "
            "sentiment models only (negative and positive)."
        )
    negative = [index for index, name in labels.items() if name.strip().lower() in NEGATIVE_NAMES]
    positive = [index for index, name in labels.items() if name.strip().lower() in POSITIVE_NAMES]
    if len(negative) != 1 or len(positive) != 1 or negative == positive:
        raise HubError(
            f"The model's labels {labels[0]!r} and {labels[1]!r} do not read as negative and positive sentiment "
            "(e.g. NEGATIVE/POSITIVE, neg/pos, LABEL_0/LABEL_1): it does not look like a two-label sentiment model."
        )
    return negative[0], positive[0]


def _output_layer(model: PreTrainedModel) -> Any:
    """The classifier's last linear layer (two outputs), whatever the architecture names it."""
    import torch

    layers = [module for module in model.modules() if isinstance(module, torch.nn.Linear) and module.out_features == 2]
    if not layers:
        raise HubError("The model has no two-output classification layer.")
    return layers[-1]


@dataclass
class ImportedModel:
    folder: Path
    architecture: str
    original_labels: dict[str, str]
    swapped: bool
    max_length: int


def import_external(source_dir: Path, staging: Path) -> ImportedModel:
    """Check that `source_dir` holds a fine-tuned two-label sentiment classifier and save it into `staging`
    with our label map (0 negative, 1 positive), its output rows swapped when its own order is the reverse."""
    import torch
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    from workers.ml.encoding import model_input_names

    source_dir = Path(source_dir)
    if not (source_dir / "config.json").is_file():
        raise HubError("The folder holds no config.json: it is not a saved transformers model.")
    if not any(source_dir.glob("*.safetensors")):
        pickled = sorted(path.name for path in source_dir.glob("*") if path.suffix in (".bin", ".pt", ".ckpt", ".pth"))
        raise HubError(
            "The model holds no safetensors weights"
            + (f" (only {', '.join(pickled)}, which are pickled and never loaded here)" if pickled else "")
            + ": convert it with `save_pretrained(..., safe_serialization=True)` and register that folder."
        )
    for index in source_dir.glob("*.safetensors.index.json"):
        refuse_shards_out(index)
    try:
        raw_config = json.loads((source_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HubError(f"The model's config.json cannot be read as JSON: {error}.") from None
    if not isinstance(raw_config, dict):
        raise HubError("The model's config.json does not hold a JSON object, so it is not a saved transformers model.")
    if raw_config.get("auto_map"):
        raise HubError("The model needs code shipped with it (auto_map, trust_remote_code), which the platform never runs.")
    try:
        config = AutoConfig.from_pretrained(source_dir, trust_remote_code=False)
    except (ValueError, KeyError, OSError) as error:
        raise HubError(f"transformers cannot read the model's config.json: {error}") from None
    architectures = config.architectures or []
    if architectures and not any(name.endswith("ForSequenceClassification") for name in architectures):
        raise HubError(
            f"The model is a {', '.join(architectures)}, not a sequence classifier fine-tuned for sentiment: "
            "register a *ForSequenceClassification model with two labels."
        )
    negative, positive = label_order(config.id2label)
    model, loading = AutoModelForSequenceClassification.from_pretrained(
        source_dir, trust_remote_code=False, use_safetensors=True, dtype=torch.float32, output_loading_info=True
    )
    if loading.get("missing_keys"):
        raise HubError(
            "The model's classification head is not in its weights (missing: "
            f"{', '.join(sorted(loading['missing_keys'])[:4])}): it is a pre-trained encoder, not a fine-tuned "
            "classifier. Fine-tune it here with a training run instead."
        )
    swapped = (negative, positive) == (1, 0)
    if swapped:
        layer = _output_layer(model)
        with torch.no_grad():
            layer.weight.copy_(layer.weight.flip(0))
            if layer.bias is not None:
                layer.bias.copy_(layer.bias.flip(0))
    model.config.id2label = dict(LABEL_NAMES)
    model.config.label2id = {name: label for label, name in LABEL_NAMES.items()}
    tokenizer = AutoTokenizer.from_pretrained(source_dir, trust_remote_code=False)
    tokenizer.model_input_names = model_input_names(model)
    staging.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    positions = int(getattr(config, "max_position_embeddings", 0) or MAX_IMPORT_LENGTH)
    if config.model_type in ("roberta", "xlm-roberta", "camembert"):
        positions -= int(config.pad_token_id or 0) + 1  # these count positions from pad_token_id + 1
    limit = int(tokenizer.model_max_length) if 0 < tokenizer.model_max_length < 100_000 else MAX_IMPORT_LENGTH
    return ImportedModel(
        folder=staging,
        architecture=config.model_type,
        original_labels={str(key): str(value) for key, value in config.id2label.items()},
        swapped=swapped,
        max_length=min(MAX_IMPORT_LENGTH, positions, limit),
    )


@dataclass
class RegisterResult:
    artifact_dir: Path
    manifest: dict[str, Any]
    metrics: dict[str, Any]
    test_predictions: list[Score]
    artifact_size: int
    revision: str


def register_external(
    source: str,
    output_dir: Path,
    test: Sequence[Example],
    *,
    revision: str | None = None,
    lineage: dict[str, Any] | None = None,
    log: Callable[[str], None] = lambda text: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> RegisterResult:
    """Bring the model `source` names (Hub id or folder) in as an artifact folder at `output_dir`, scored on `test`.

    Its test metrics make it comparable with the platform's own versions on the same snapshot.
    """
    from workers.ml.encoding import encode_texts, predict_probabilities

    folder, resolved_revision = fetch_external(source, revision=revision)
    log(f"Checking {source} (revision {resolved_revision}).")
    output_dir = Path(output_dir)
    with artifacts.staging_folder(output_dir) as staging:
        imported = import_external(folder, staging)
        log(
            f"A {imported.architecture} classifier with labels {imported.original_labels}"
            + (": its outputs were swapped to read 0 negative, 1 positive." if imported.swapped else ".")
        )
        config = TrainConfig(base_model=source, max_length=imported.max_length, truncation="head_tail", lowercase=False)
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(staging, trust_remote_code=False)
        import torch

        model = AutoModelForSequenceClassification.from_pretrained(
            staging, trust_remote_code=False, use_safetensors=True, dtype=torch.float32
        ).to("cuda" if torch.cuda.is_available() else "cpu")  # the gpu queue's workers score on their GPU
        started = time.perf_counter()
        ids = encode_texts(tokenizer, [example.text for example in test], max_length=config.max_length,
                           truncation=config.truncation, lowercase=config.lowercase)  # fmt: skip
        if should_stop():
            raise HubError("Cancelled.")
        probabilities = predict_probabilities(model, tokenizer, ids, batch_size=16, device=next(model.parameters()).device)
        predicted = probabilities.argmax(axis=1).tolist()
        metrics = classification_metrics([example.label for example in test], predicted)
        log(f"Scored {len(test)} test reviews in {time.perf_counter() - started:.1f} s: accuracy {metrics['accuracy']:.4f}.")
        manifest = artifacts.publish(
            staging,
            output_dir,
            kind="transformer",
            config=config,
            metrics=metrics,
            epochs=[],
            lineage={"registered_from": source, "source_revision": resolved_revision, **(lineage or {})},
            # The training settings of a model trained elsewhere are unknown; the card must not show ours.
            extra_hyperparameters={
                **dict.fromkeys(UNKNOWN_TRAINING_SETTINGS, "not recorded (trained elsewhere)"),
                "architecture": imported.architecture,
                "original_labels": imported.original_labels,
            },
            data_sizes={"test": len(test)},
        )
    return RegisterResult(
        artifact_dir=output_dir,
        manifest=manifest,
        metrics=metrics,
        test_predictions=[
            (example.review_id, example.label, label, float(row[label]))
            for example, label, row in zip(test, predicted, probabilities)
        ],
        artifact_size=artifacts.folder_size(output_dir),
        revision=resolved_revision,
    )


def export_to_temporary(artifact_dir: Path, **card: Any) -> Path:
    """`export_folder` into a fresh temporary folder (the caller removes it)."""
    target = Path(tempfile.mkdtemp(prefix="hub-export-"))
    try:
        return export_folder(artifact_dir, target, **card)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
