"""What a model folder from outside may hold before it is read: its files inside it, nothing reached through it.

`workers.ml.hub` registers models trained elsewhere; transformers reads whatever a folder's links and a
sharded model's index lead to, so a folder is checked first.
"""

from __future__ import annotations

import json
from pathlib import Path


class HubError(ValueError):
    """An export, publication or import that was refused; the message says why and what to do."""


def refuse_links_out(folder: Path) -> None:
    """Refuse a folder whose symlinks lead outside it: registering must read the model's files, no others.

    A Hugging Face cache snapshot (``.../snapshots/REV``), whose files link to its ``../../blobs``, is fine.
    """
    root = folder.resolve()
    allowed = [root]
    if root.parent.name == "snapshots":
        allowed.append(root.parent.parent / "blobs")
    # transformers reads a model's files from the folder itself, not below it; and a walk of "/" would never end.
    for path in folder.iterdir():
        if path.is_symlink() and not any(path.resolve().is_relative_to(place) for place in allowed):
            raise HubError(
                f"{path.relative_to(folder)} in {folder} is a link to {path.resolve()}, outside the folder: a "
                "registered folder must hold the model's own files (copy them in, e.g. `cp -rL`, and register the copy)."
            )


def refuse_shards_out(index: Path) -> None:
    """Refuse a sharded model's index naming a weights file that is not beside it (transformers would read it)."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map") or {}
        files = {str(name) for name in weight_map.values()}
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as error:
        raise HubError(f"The model's {index.name} cannot be read as a weights index: {error}.") from None
    outside = sorted(name for name in files if Path(name).name != name or name in ("", ".", ".."))
    if outside:
        raise HubError(
            f"The model's {index.name} names weights outside its folder ({', '.join(map(repr, outside[:3]))}): "
            "a registered model's shards lie in its own folder."
        )
