#!/usr/bin/env bash
# Reproduces the "Under load" tables of docs/stacks.md: every stack on a 4-instance
# cluster (16 A100-80GB, Llama-3-70B TP4) at ~80% and ~100% of vllm-apc's peak
# sustainable rate (SLO attainment >= 0.9), on the bundled SWE-bench trace and on the
# multi-tenant generator (200 tasks), and the trace at 4/min (overload).
# Fast mode, seed 0, default policy parameters.
#
#   benchmarks/stacks_under_load.sh [OUTDIR]        # all five configurations
#   PEAK=1 benchmarks/stacks_under_load.sh [OUTDIR] # also re-run the peak searches
#
# Runs the five configurations concurrently (each a separate process); on a 2-core
# machine shared with other jobs this took about 15 minutes of wall time.
set -euo pipefail
OUT=${1:-stacks_under_load}
SAGACORE=${SAGACORE:-sagacore}
PY=${PYTHON:-python}
CLUSTER=(--gpus 16 --tp 4)
STACKS=(vllm-apc vllm sglang saga justitia astraea autellix continuum kvflow infercept vtc preble sagacore-best)
mkdir -p "$OUT"
stack_args=(); for s in "${STACKS[@]}"; do stack_args+=(--stack "$s"); done

if [[ "${PEAK:-0}" == 1 ]]; then
  # vllm-apc's peak sustainable rate: 2.83/min (SWE-bench trace), 5.42/min (multi-tenant)
  $SAGACORE simulate --stack vllm-apc "${CLUSTER[@]}" --rate 4 --peak 0.9 --json "$OUT/peak_swe.json"
  $SAGACORE simulate --workload multi-tenant --stack vllm-apc "${CLUSTER[@]}" --rate 4 --peak 0.9 --json "$OUT/peak_mt.json"
fi

run() {  # name workload rate
  timeout 3600 $SAGACORE simulate --workload "$2" --rate "$3" "${CLUSTER[@]}" "${stack_args[@]}" \
    --json "$OUT/$1.json" > "$OUT/$1.txt" 2> "$OUT/$1.err"
}
run swe_80  swe-bench-trace 2.26 &
run swe_100 swe-bench-trace 2.83 &
run mt_80   multi-tenant    4.33 &
run mt_100  multi-tenant    5.42 &
run swe_141 swe-bench-trace 4    &   # overload: 1.41x vllm-apc's peak
wait

for n in swe_80 swe_100 swe_141 mt_80 mt_100; do
  echo "== $n"; head -2 "$OUT/$n.txt"
  "$PY" - "$OUT/$n.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
comps = d["comparisons"]
print(f"{'stack':<14}{'TCT mean':>9}{'p99':>9}{'geomean':>9}{'SLO':>7}{'KV util':>8}"
      f"{'preempt':>8}{'evicted':>9}{'swapout':>8}{'prefill':>8}{'tasks/min':>10}"
      f"{'migr':>6}  ratio vs vllm-apc [95% CI]  p")
for k, v in d["stacks"].items():
    t = v["tct"]; c = comps.get(k)
    cs = (f"  {c['ratio']:.3f}x [{c['ci_low']:.3f}, {c['ci_high']:.3f}]  p={c['p_value']:.2g}"
          if c else "  (reference)")
    print(f"{k:<14}{t['mean']:>9,.0f}{t['p99']:>9,.0f}{t['geomean']:>9,.0f}"
          f"{v['slo_attainment']:>7.1%}{v['kv_utilization']:>8.1%}{v['preemptions']:>8,}"
          f"{v['evicted_blocks'] / 1e3:>8.0f}k{v['swapped_out_tokens'] / 1e6:>7.1f}M"
          f"{v['prefill_tokens_computed'] / 1e6:>7.1f}M{v['throughput_tasks_per_min']:>10.2f}"
          f"{v.get('migrations', 0):>6,}{cs}")
PYEOF
done
