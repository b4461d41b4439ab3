#!/usr/bin/env bash
# Measures the H200 operator profiles of docs/cost-model.md ("Measured profiles"):
# one decoder layer of Llama-3-8B (tp 1) and the TP slices of Llama-3-70B (tp 2, 4, 8)
# timed with torch on the GPU (bfloat16, CUDA events, 3 warm-up runs, median of 10),
# over the default grid of `sagacore cost profile`, then the roofline's error against
# each profile (`sagacore cost --profile`).
#
#   benchmarks/gpu_profile.sh [OUTDIR]   # default OUTDIR: sagacore/data/profiles
#
# Needs torch with CUDA and nothing from the network; run from anywhere (it runs the
# checkout's sagacore.engine with PYTHONPATH, so sagacore need not be installed).
# Refuses a GPU that is not an H200 unless PREFIX names the files otherwise
# (PREFIX=h100-80gb ..., a GPU preset name). Writes OUTDIR/PREFIX-MODEL-tpN.json (the
# profile) and OUTDIR/PREFIX-MODEL-tpN.errors.json (the roofline's error against it, as
# `sagacore cost --profile` reports it, against the PREFIX GPU preset), and a log on
# stderr. Budget: a few minutes on one GPU (each profile is ~140 shapes x
# 13 runs; the largest KV, decode of 128 sequences of 8192 tokens, is ~4 GiB).
#
# A dry run of the script's logic on a CPU (tiny shapes, not a measurement):
#   DEVICE=cpu RUNS="llama-3-8b:32" PROFILE_ARGS="--batch-sizes 1,2 --new-tokens 4 \
#     --context-lengths 0,8 --repeats 1" benchmarks/gpu_profile.sh /tmp/dry
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/sagacore/data/profiles}
PREFIX=${PREFIX:-h200}
PY=${PYTHON:-python}
DEVICE=${DEVICE:-cuda}
RUNS=${RUNS:-llama-3-8b:1 llama-3-70b:2 llama-3-70b:4 llama-3-70b:8}
read -r -a EXTRA <<< "${PROFILE_ARGS:-}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"

# One python process for all runs; it imports only sagacore.engine (the standard library)
# and torch, so the GPU machine needs none of sagacore's other dependencies.
"$PY" - "$OUT" "$PREFIX" "$DEVICE" "$RUNS" ${EXTRA[@]+"${EXTRA[@]}"} <<'DRIVER'
import argparse, json, sys, time
import torch
from sagacore.engine.cost import CostModel
from sagacore.engine.specs import get_gpu, get_model
from sagacore.engine.profile import ProfileGrid, profile_errors, run_profile

out, prefix, device, runs, *extra = sys.argv[1:]
ap = argparse.ArgumentParser()
ints = lambda s: tuple(int(x) for x in s.split(","))
ap.add_argument("--batch-sizes", type=ints, default=(1, 2, 4, 8, 16, 32, 64, 128))
ap.add_argument("--new-tokens", type=ints, default=(16, 64, 256, 512, 1024, 2048))
ap.add_argument("--context-lengths", type=ints, default=(0, 256, 1024, 2048, 4096, 8192))
ap.add_argument("--warmup", type=int, default=3)
ap.add_argument("--repeats", type=int, default=10)
a = ap.parse_args(extra)
if device == "cpu":
    print(f"torch {torch.__version__}, cpu: a dry run, not a measurement", file=sys.stderr)
else:
    assert torch.cuda.is_available(), "torch sees no GPU"
    name = torch.cuda.get_device_name(0)
    print(f"torch {torch.__version__}, {name}", file=sys.stderr)
    if prefix == "h200" and "H200" not in name:
        sys.exit(f"not an H200 ({name}); set PREFIX to name the files after this GPU")
grid = ProfileGrid(a.batch_sizes, a.new_tokens, a.context_lengths)
for run in runs.split():
    model, tp = run.split(":")[0], int(run.split(":")[1])
    base = f"{out}/{prefix}-{model}-tp{tp}"
    t0 = time.perf_counter()
    print(f"== {time.strftime('%H:%M:%S')} profiling {model} tp={tp} -> {base}.json",
          file=sys.stderr, flush=True)
    prof = run_profile(
        get_model(model), tp, grid, device=device, warmup=a.warmup, repeats=a.repeats,
        meta={"command": "benchmarks/gpu_profile.sh " + " ".join(extra),
              "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    )
    prof.save(base + ".json")
    errors = profile_errors(CostModel(get_model(model), get_gpu(prefix), tp=tp), prof)
    with open(base + ".errors.json", "w") as f:
        json.dump(errors, f, indent=1)
    print(f"   {time.perf_counter() - t0:.1f} s; roofline / measured - 1, median:",
          {k: None if v["median"] is None else round(v["median"], 3)
           for g in errors.values() for k, v in g.items()}, file=sys.stderr, flush=True)
print(f"== {time.strftime('%H:%M:%S')} done: {out}", file=sys.stderr)
DRIVER
