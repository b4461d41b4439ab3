#!/usr/bin/env bash
# Install vLLM 0.33.0's scheduler path on a CPU-only machine, plus sagacore and
# sagacore-vllm, into the environment of the given Python interpreter.
#
# Usage:  integrations/vllm/install.sh VENV_PYTHON [--no-test-deps]
#   e.g.  python3 -m venv /work/venv-vllm
#         integrations/vllm/install.sh /work/venv-vllm/bin/python
#
# Order matters: torch first (the local CPU build), then the pinned pure-Python list
# with --no-deps, then vllm with --no-deps (its metadata pins torch==2.14.0 and CUDA
# packages, which must never be resolved), then sagacore (with its own deps, none of
# which touch torch) and sagacore-vllm (--no-deps).
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 VENV_PYTHON [--no-test-deps]" >&2
    exit 2
fi
PY="$1"
TEST_DEPS=1
if [[ "${2:-}" == "--no-test-deps" ]]; then
    TEST_DEPS=0
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TORCH_VERSION="2.13.0"
VLLM_VERSION="0.33.0"

STEP_START=$SECONDS
step() {
    if [[ -n "${STEP_NAME:-}" ]]; then
        echo "    done in $((SECONDS - STEP_START)) s"
    fi
    STEP_NAME="$1"
    STEP_START=$SECONDS
    echo "$1"
}

pip_install() {
    "$PY" -m pip install --disable-pip-version-check "$@"
}

step "[1/5] torch==$TORCH_VERSION (CPU build)"
pip_install "torch==$TORCH_VERSION"
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('$TORCH_VERSION') and torch.version.cuda is None else 1)"; then
    echo "error: torch is not the $TORCH_VERSION CPU build: $("$PY" -c 'import torch; print(torch.__version__, torch.version.cuda)')" >&2
    exit 1
fi

step "[2/5] pinned pure-Python packages (--no-deps)"
pip_install --no-deps -r "$HERE/requirements-cpu.txt"

step "[3/5] vllm==$VLLM_VERSION (--no-deps)"
pip_install --no-deps "vllm==$VLLM_VERSION"

step "[4/5] sagacore (editable, with its core deps) and sagacore-vllm (--no-deps)"
pip_install -e "$ROOT"
pip_install --no-deps -e "$HERE"
if [[ $TEST_DEPS -eq 1 ]]; then
    pip_install "pytest==9.2.0"
fi

step "[5/5] check: torch unchanged, vllm scheduler importable"
"$PY" - <<EOF
import torch
assert torch.__version__.startswith("$TORCH_VERSION") and torch.version.cuda is None, torch.__version__
from sagacore_vllm.engine import vllm_version
assert vllm_version() == "$VLLM_VERSION", vllm_version()
print("ok: torch", torch.__version__, "vllm", vllm_version())
EOF
step "total: $SECONDS s"
