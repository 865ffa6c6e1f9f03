#!/usr/bin/env bash
# The GPU's targets in one table, in under 8 minutes, on a machine with CUDA, the repository and
# a virtual environment with it installed (`pip install -e '.[test]'`):
#
#     bash benchmarks/gpu.sh [MNIST_DIR]
#
# MNIST_DIR holds the four MNIST files (.gz or not); without it, $MNIST_DATA, then
# ../shared/datasets/mnist, shared/datasets/mnist and data/mnist are tried. The Python is $PYTHON,
# else .venv/bin/python, else python3. First the device checks (tests/test_gpu.py: the graphed
# step learns what the eager one does, and no step waits for the device), then benchmarks/gpu.py.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

python=${PYTHON:-}
if [ -z "$python" ]; then
    for candidate in .venv/bin/python python3; do
        if command -v "$candidate" >/dev/null 2>&1; then python=$candidate; break; fi
    done
fi
if [ -z "$python" ] || ! "$python" -c 'import torch, mnist_cli' 2>/dev/null; then
    echo "error: no Python with torch and mnist_cli here: set PYTHON or make .venv" >&2
    exit 1
fi
if ! "$python" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
    echo "error: no CUDA device here ($("$python" -c 'import torch; print("torch", torch.__version__)')): run this on a GPU machine" >&2
    exit 1
fi

data=${1:-${MNIST_DATA:-}}
if [ -z "$data" ]; then
    for candidate in ../shared/datasets/mnist shared/datasets/mnist data/mnist; do
        if [ -d "$candidate" ]; then data=$candidate; break; fi
    done
fi
if [ -z "$data" ] || [ ! -d "$data" ]; then
    echo "error: no MNIST files: give their folder, bash benchmarks/gpu.sh DIR" >&2
    exit 1
fi

if "$python" -c 'import pytest' 2>/dev/null; then
    timeout 60 "$python" -m pytest -q -p no:cacheprovider tests/test_gpu.py \
        || echo "device checks failed (above); timing anyway" >&2
else
    echo "pytest is not installed: device checks skipped" >&2
fi
timeout 400 "$python" benchmarks/gpu.py --data "$data"
