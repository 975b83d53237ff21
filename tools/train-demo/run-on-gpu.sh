#!/usr/bin/env bash
# Trains and exports the demo model on a GPU machine, given the corpus prepared beforehand by
# prepare-corpus.sh (the GPU machine needs no network and no installs: python3 with torch,
# transformers, tokenizers and safetensors).
#
# usage: tools/train-demo/run-on-gpu.sh OUT_DIR [MINUTES] [extra train.py options...]
#
# MINUTES (default 8) is the training-loop budget given to train.py; with setup, evaluation and
# export on top, the whole run then stays under 10 minutes even if the time budget, not the
# epoch cap, ends training.
#
# Step 1 checks the corpus (tools/train-demo/data/kjv.txt, git-ignored, carried over by hand) and
# the Python packages; step 2 runs train.py, which writes the Hugging Face model folder OUT_DIR.
# The whole log is also kept in OUT_DIR/train.log.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: run-on-gpu.sh OUT_DIR [MINUTES] [extra train.py options...]}"
minutes="${2:-8}"
shift $(( $# >= 2 ? 2 : 1 ))
corpus="$here/data/kjv.txt"

echo "== step 1: checks"
if [ ! -s "$corpus" ]; then
  echo "missing $corpus: run tools/train-demo/prepare-corpus.sh $corpus on a Debian machine and copy it here" >&2
  exit 1
fi
echo "corpus: $corpus ($(wc -l <"$corpus") lines, $(wc -c <"$corpus") bytes)"
python3 - <<'PY'
import importlib
for name in ("torch", "transformers", "tokenizers", "safetensors"):
    m = importlib.import_module(name)
    print("%-12s %s" % (name, getattr(m, "__version__", "?")))
import torch
print("cuda:", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PY
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv || true

echo "== step 2: train and export"
mkdir -p "$out"
python3 -u "$here/train.py" --corpus "$corpus" --out "$out" --minutes "$minutes" "$@" 2>&1 | tee "$out/train.log"
echo "== done: $out"
ls -l "$out"
