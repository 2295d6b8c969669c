#!/usr/bin/env bash
# One prepared run on a lent GPU: the cuda tests, the search step at the paper's setting (fp32 and bf16, default
# and checkpoint_cells), a 150-iteration search extrapolated to the reference's 1,500, and hinas infer --fp16 on
# a 1920x1080 image. Writes $OUT/gpu_check.json (OUT defaults to ./gpu_check_out) and prints a table.
#
#   bash benchmarks/gpu_check.sh                 # on a machine with CUDA, basicsr and lmdb installed
#
# On the device tool's bare, offline machine (Python 3.12, torch 2.11, no basicsr or lmdb), carry the wheels
# fetched by docs/gpu.md into .whl/: they are installed into /tmp/site first. Under 10 minutes in all.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "gpu_check.sh: no CUDA device here (torch.cuda.is_available() is false in $PY); run it on a GPU machine" >&2
  exit 2
fi
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
HAVE='import importlib.util as u, sys; sys.exit(0 if u.find_spec("basicsr") and u.find_spec("lmdb") else 1)'
if ! "$PY" -c "$HAVE" 2>/dev/null; then
  if ! compgen -G '.whl/*.whl' >/dev/null; then
    echo "gpu_check.sh: basicsr or lmdb is missing and there are no wheels in .whl/ (see docs/gpu.md)" >&2
    exit 2
  fi
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"$PY" benchmarks/gpu_check.py --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu_check.log"
