#!/usr/bin/env bash
# GPU check of the --scheduler-cls plug-in: serve a small model with random weights
# (--load-format dummy, integrations/vllm/gpu_check/tiny-llama/config.json, nothing is
# downloaded) with vLLM's own scheduler and with sagacore stacks inside it, replay the
# same slice of an agent workload through the OpenAI-compatible API with program
# metadata, and print real TCT and prefix-cache figures (docs/vllm-plugin.md, "GPU check").
#
# Needs: one NVIDIA GPU, vLLM 0.33 installed in $PYTHON's environment (numpy and aiohttp
# come with vLLM, networkx with torch; scipy must be there too: sagacore's predictor uses
# it), and curl. No network. Run from anywhere:
#
#   integrations/vllm/gpu_check.sh                       # baseline, saga, continuum, sagacore
#   STACKS="saga" TASKS=8 integrations/vllm/gpu_check.sh  # fewer runs
#
# Settings (environment): PYTHON (python3), PORT (8011), STACKS ("saga continuum
# sagacore"), WORKLOAD (swe-bench, sagacore's generator; a DAG workload such as
# task-parallel replays its graphs: branches in parallel, joins after all their
# branches), MAX_STEPS (12 calls per task),
# TASKS (16), RATE (30 tasks/min), TIME_SCALE (0.25: arrivals and tools run 4x faster),
# BLOCKS (4096 KV blocks of 16 tokens, 65,536 tokens: memory pressure), OUT (a new
# directory under /tmp), START_TIMEOUT (600 s), DRY_RUN (0).
#
# DRY_RUN=1 runs everything but the model, on a CPU: each "server" is
# gpu_check/standin.py, which parses the same vllm serve options with vLLM's own parser,
# builds vLLM's engine configuration (model config, --scheduler-cls resolved by vLLM,
# the plug-in's settings and stack), checks every request with vLLM's request model and
# answers with random tokens. Its figures are not measurements; it needs vLLM (a CPU
# build is enough), not a GPU:
#
#   DRY_RUN=1 STACKS="sagacore" TASKS=2 MAX_STEPS=3 RATE=600 TIME_SCALE=0.001 \
#       PYTHON=/path/to/venv/bin/python integrations/vllm/gpu_check.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
PORT="${PORT:-8011}"
STACKS="${STACKS:-saga continuum sagacore}"
WORKLOAD="${WORKLOAD:-swe-bench}"
MAX_STEPS="${MAX_STEPS:-12}"
TASKS="${TASKS:-16}"
RATE="${RATE:-30}"
TIME_SCALE="${TIME_SCALE:-0.25}"
BLOCKS="${BLOCKS:-4096}"
START_TIMEOUT="${START_TIMEOUT:-600}"
DRY_RUN="${DRY_RUN:-0}"
OUT="${OUT:-$(mktemp -d /tmp/sagacore-gpu-check.XXXXXX)}"
MODEL="$HERE/gpu_check/tiny-llama"
mkdir -p "$OUT"
export PYTHONPATH="$REPO:$REPO/integrations/vllm${PYTHONPATH:+:$PYTHONPATH}"
export VLLM_CACHE_ROOT="${VLLM_CACHE_ROOT:-$OUT/vllm-cache}"

if [[ "$DRY_RUN" == 1 ]]; then
  SERVE=("$PYTHON" "$HERE/gpu_check/standin.py" serve)
  echo "== sagacore GPU check, DRY RUN (no model: the figures are not measurements): out=$OUT"
else
  SERVE=("$PYTHON" -m vllm.entrypoints.cli.main serve)
  echo "== sagacore GPU check: out=$OUT"
fi
DRY_RUN="$DRY_RUN" "$PYTHON" - <<'EOF'
import os
import torch, vllm
import scipy, networkx, aiohttp  # sagacore's and the driver's dependencies
import sagacore.stacks, sagacore_vllm.plugin  # the plug-in must import where vllm serve runs
if os.environ["DRY_RUN"] == "1":
    print(f"vllm {vllm.__version__}, torch {torch.__version__}, dry run (no GPU needed)")
else:
    assert torch.cuda.is_available(), "no CUDA device visible"
    print(f"vllm {vllm.__version__}, torch {torch.__version__}, {torch.cuda.get_device_name(0)}")
EOF

SERVER_PID=""
stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap stop_server EXIT

run_one() {  # label, then extra vllm serve arguments
  local label="$1"; shift
  local log="$OUT/$label.server.log"
  echo "== $label: vllm serve ... $*"
  "${SERVE[@]}" "$MODEL" \
      --load-format dummy --skip-tokenizer-init --enforce-eager \
      --enable-prefix-caching --enable-prompt-tokens-details \
      --max-model-len 16384 --num-gpu-blocks-override "$BLOCKS" \
      --gpu-memory-utilization 0.5 --port "$PORT" "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  local waited=0
  until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "server for $label exited; last lines of $log:"; tail -40 "$log"; return 1
    fi
    if (( waited >= START_TIMEOUT )); then
      echo "server for $label not up after ${START_TIMEOUT}s"; tail -40 "$log"; return 1
    fi
    sleep 2; waited=$((waited + 2))
  done
  echo "   up after ${waited}s"
  "$PYTHON" "$HERE/gpu_check/replay.py" --url "http://127.0.0.1:$PORT" --model "$MODEL" \
      --label "$label" --workload "$WORKLOAD" --max-steps "$MAX_STEPS" \
      --tasks "$TASKS" --rate "$RATE" \
      --time-scale "$TIME_SCALE" --out "$OUT/$label.json"
  grep -m1 "Using custom scheduler class" "$log" || true
  stop_server
}

run_one vllm-apc
for stack in $STACKS; do
  run_one "plugin-$stack" \
      --scheduler-cls sagacore_vllm.plugin.SagaAsyncScheduler \
      --additional-config "{\"sagacore\": {\"stack\": \"$stack\"}}"
done

echo "== summary ($WORKLOAD, first $MAX_STEPS calls of $TASKS tasks at $RATE/min, time scale $TIME_SCALE, $BLOCKS KV blocks)"
"$PYTHON" "$HERE/gpu_check/replay.py" summarize "$OUT"/*.json | tee "$OUT/summary.md"
