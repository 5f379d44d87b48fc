#!/usr/bin/env bash
# Sets up metarl in ./.venv: torch first (a CPU build where there is no NVIDIA GPU), then the
# package in editable mode with Meta-World. Usage: bash .ci/install.sh [EXTRAS], e.g. `bash .ci/install.sh dev`.
# Torch is installed once: an importable torch is kept, and metarl's range (torch>=2.2) admits
# it, so pip never pulls a second (CUDA) build. Set METARL_TORCH_INDEX to a PyTorch wheel index
# (e.g. PyTorch's CPU index) where the default index would give a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:-}
[[ -x .venv/bin/python ]] || python3 -m venv .venv
py=.venv/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! "$py" -c "import torch" 2>/dev/null; then
  index=()
  [[ -n ${METARL_TORCH_INDEX:-} ]] && index=(--index-url "$METARL_TORCH_INDEX")
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    "$py" -m pip install -q "${index[@]}" "torch>=2.2"
  else
    "$py" -m pip install -q "${index[@]}" "torch==2.13.0"
  fi
fi
# setuptools in the venv lets the editable install build without an isolated build env.
"$py" -m pip install -q "setuptools>=69" wheel
"$py" -m pip install -q --no-build-isolation -e ".[metaworld${extras:+,$extras}]"
# Meta-World: Farama's package without its dependencies, whose `mujoco==3.3.0` pin would replace
# the mujoco 4 metarl needs; its real dependencies come with the `metaworld` extra above.
"$py" -m pip install -q --no-deps "metaworld==3.1.1"
