#!/usr/bin/env bash
# The one device call of the GPU proof: the training-throughput comparison, then the 2-epoch fine-tune
# with the compile mode that comparison recommends. Inputs come from bench/gpu/prepare.py (carry .gpu).
# Usage (on the GPU machine, from the repository root): OUT=/some/folder bench/gpu/run.sh
set -uo pipefail
OUT=${OUT:?set OUT to the folder for results}
PY=${PY:-python3}
export PYTHONPATH=$PWD HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
mkdir -p "$OUT"
started=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
$PY -c "import sys, torch, transformers, accelerate; print('python', sys.version.split()[0], 'torch', torch.__version__, 'transformers', transformers.__version__, 'accelerate', accelerate.__version__)" | tee -a "$OUT/gpu.txt"

timeout "${THROUGHPUT_SECONDS:-250}" $PY bench/train_throughput.py --data .gpu/snapshot.jsonl.xz --base-model .gpu/base-model \
  --n 4096 --compile off,default,reduce-overhead --output "$OUT/train_throughput.json" 2>&1 | grep -v -i -E "warn|load report|^key |^---|missing|newly initial|^notes|loading weights" | tee "$OUT/train_throughput.log"
mode=$($PY -c "import json,sys; print(json.load(open(sys.argv[1])).get('recommended_compile_mode') or 'off')" "$OUT/train_throughput.json" 2>/dev/null || echo off)
echo "throughput comparison done after $(( $(date +%s) - started )) s; fine-tuning with compile mode: $mode"

timeout "${FINETUNE_SECONDS:-300}" $PY bench/gpu/finetune.py --inputs .gpu --out "$OUT/finetune" --epochs 2 --compile "$mode" 2>&1 | grep -v -i -E "warn|load report|^key |^---|missing|newly initial|^notes|loading weights|writing model" | tee "$OUT/finetune.log"
rm -rf "$OUT/finetune/model"
echo "all done after $(( $(date +%s) - started )) s"
