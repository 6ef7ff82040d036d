"""Save a randomly initialised two-label BERT a few MB large, with all-MiniLM-L6-v2's tokenizer, to argv[1].

`make stack-test` runs it inside worker-gpu to get a base model that trains in seconds on a CPU, on the
volume every app container shares; runs name the folder as their base_model, as any local model.
The builder itself is workers/ml/tiny_models.py, which the tests use too.
"""

from __future__ import annotations

import sys
from pathlib import Path

from workers.ml.tiny_models import save_tiny_bert

folder = save_tiny_bert(Path(sys.argv[1]), hidden_size=32, layers=2, max_positions=128)
print(f"tiny BERT base model saved in {folder}")
