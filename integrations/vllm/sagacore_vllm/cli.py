"""The ``sagacore-vllm`` command line.

- ``sagacore-vllm check`` builds a scheduler and shows a prefix-cache hit (a smoke test
  of an install);
- ``sagacore-vllm bench`` steps N identical-shape requests through one scheduler and
  prints the step count and CPU time;
- ``sagacore-vllm twin`` replays a sagacore workload through real vLLM schedulers on a
  sagacore cluster and prints the metrics ``sagacore simulate`` prints;
- ``sagacore-vllm fidelity`` runs a workload through both the simulator's vLLM stacks
  and the twin and prints the per-task TCT error, hit rates and preemptions.

Any :class:`~sagacore.errors.SagacoreError` becomes one ``error:`` line and exit
status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sagacore.errors import ConfigError, SagacoreError

if TYPE_CHECKING:  # pragma: no cover
    from sagacore.sim.config import ClusterConfig
    from sagacore.workload.model import Workload

__all__ = ["build_parser", "main"]


def _check(args: argparse.Namespace) -> int:
    import torch

    from sagacore_vllm.engine import VllmEngine, VllmEngineConfig, vllm_version

    engine = VllmEngine(VllmEngineConfig(num_gpu_blocks=256))
    prefix = list(range(1, 65))
    engine.add_request("first", [*prefix, 100], max_tokens=4)
    engine.run_until_idle()
    engine.add_request("second", [*prefix, 200], max_tokens=4)
    hit = engine.step().admissions[0].num_cached_tokens
    engine.run_until_idle()
    print(f"vllm {vllm_version()}, torch {torch.__version__}")
    print(f"second request hit {hit} of 65 prompt tokens in the prefix cache (expected 64)")
    return 0 if hit == 64 else 1


def _bench(args: argparse.Namespace) -> int:
    from sagacore_vllm.engine import VllmEngine, VllmEngineConfig

    config = VllmEngineConfig(
        num_gpu_blocks=args.num_gpu_blocks,
        max_num_batched_tokens=args.max_num_batched_tokens,
        max_num_seqs=args.max_num_seqs,
        max_model_len=max(8192, args.prompt_tokens + args.output_tokens),
    )
    engine = VllmEngine(config)
    for i in range(args.requests):
        prompt = [(i * 7919 + j * 31) % config.vocab_size for j in range(args.prompt_tokens)]
        engine.add_request(f"r{i}", prompt, max_tokens=args.output_tokens)
    start = time.process_time()
    records = engine.run_until_idle()
    cpu = time.process_time() - start
    preemptions = sum(len(r.preempted) for r in records)
    print(
        f"{args.requests} requests x ({args.prompt_tokens} prompt + {args.output_tokens} "
        f"output) tokens: {len(records)} steps, {preemptions} preemptions, "
        f"{cpu:.3f} s CPU ({cpu / max(len(records), 1) * 1e3:.2f} ms per step)"
    )
    return 0


_ROUTERS = ("round-robin", "session-affinity", "least-loaded", "cache-aware")


def _add_workload_args(p: argparse.ArgumentParser) -> None:
    from sagacore.cli.simulate import DEFAULT_RATE_PER_MIN, DEFAULT_WORKLOAD
    from sagacore.sim.config import CLUSTERS, DEFAULT_CLUSTER

    p.add_argument(
        "--workload",
        default=DEFAULT_WORKLOAD,
        metavar="NAME|PATH",
        help=f"{DEFAULT_WORKLOAD} (bundled real trace), a generator name (swe-bench, "
        "webarena, task-parallel, ...) or a trace file",
    )
    p.add_argument("--tasks", type=int, metavar="N", help="use the first N tasks")
    p.add_argument(
        "--rate",
        type=float,
        metavar="TASKS_PER_MIN",
        help=f"Poisson arrival rate (default {DEFAULT_RATE_PER_MIN:g}), drawn as "
        "`sagacore simulate` draws it",
    )
    p.add_argument("--seed", type=int, default=0, metavar="S", help="arrival seed (default 0)")
    p.add_argument(
        "--cluster",
        metavar="PRESET",
        help=f"one of {', '.join(sorted(CLUSTERS))} (default {DEFAULT_CLUSTER}); or give "
        "--instances/--model/--gpu/--tp",
    )
    p.add_argument("--instances", type=int, metavar="N", help="vLLM instances")
    p.add_argument("--model", metavar="M", help="model preset (for example llama-3-70b)")
    p.add_argument("--gpu", metavar="G", help="GPU preset (for example a100-80gb)")
    p.add_argument("--tp", type=int, metavar="K", help="tensor-parallel GPUs per instance")
    p.add_argument(
        "--kv-tokens",
        type=int,
        metavar="T",
        help="KV capacity per instance in tokens (default: the cost model's, from memory)",
    )
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")


def _cluster(args: argparse.Namespace) -> ClusterConfig:
    from sagacore.sim.config import (
        CLUSTERS,
        DEFAULT_CLUSTER,
        ClusterConfig,
        EngineConfig,
        get_cluster,
    )

    custom = [a for a in ("instances", "model", "gpu", "tp") if getattr(args, a) is not None]
    if args.cluster and custom:
        raise ConfigError(f"--cluster cannot be combined with --{', --'.join(custom)}")
    engine = EngineConfig(kv_capacity_tokens=args.kv_tokens)
    if not custom:
        return get_cluster(args.cluster or DEFAULT_CLUSTER, engine)
    gpus, tp, model, gpu = CLUSTERS[DEFAULT_CLUSTER]
    tp = args.tp if args.tp is not None else tp
    instances = args.instances if args.instances is not None else gpus // tp
    if instances < 1 or tp < 1:
        raise ConfigError(f"--instances and --tp must be >= 1, got {instances} and {tp}")
    return ClusterConfig.from_gpus(
        instances * tp,
        tp=tp,
        model=args.model if args.model is not None else model,
        gpu=args.gpu if args.gpu is not None else gpu,
        engine=engine,
    )


def _workload(args: argparse.Namespace) -> tuple[Workload, float]:
    from sagacore.cli.simulate import DEFAULT_RATE_PER_MIN, load_workload

    rate = DEFAULT_RATE_PER_MIN if args.rate is None else args.rate
    w = load_workload(args.workload, tasks=args.tasks, rate=rate, seed=args.seed)
    return w, rate


def _header(args: argparse.Namespace, w: Workload, rate: float, cluster: ClusterConfig) -> str:
    return (
        f"workload: {args.workload}: {len(w)} tasks, {w.llm_calls:,} LLM calls, "
        f"Poisson arrivals at {rate:g}/min (seed {args.seed})\n"
        f"cluster:  {cluster.describe()}\n"
    )


def _twin(args: argparse.Namespace) -> int:
    from sagacore_vllm.harness import run_twin

    cluster = _cluster(args)
    w, rate = _workload(args)
    out = sys.stdout
    if args.stack is not None:
        from sagacore_vllm.fidelity import fidelity_stack, twin_settings

        stack, plugin = fidelity_stack(args.stack)
        if plugin:
            desc = (f"stack {args.stack} inside vLLM through sagacore_vllm.plugin "
                    f"(work stealing off, pins: {args.pins})")
        else:
            desc = f"stack {args.stack} (vLLM's own {twin_settings(stack)[1]} policy)"
        out.write(
            _header(args, w, rate, cluster)
            + f"twin:     vLLM 0.33 schedulers, {desc}; TCT in seconds; "
            "SLO: TCT <= 1.5 x isolated TCT\n\n"
        )
        if plugin:
            r = run_twin(w, cluster, stack=stack,
                         plugin_settings={"release_pins_under_pressure": args.pins == "release"})
        else:
            router, policy, caching = twin_settings(stack)
            r = run_twin(w, cluster, router=router, policy=policy, prefix_caching=caching)
    else:
        caching = args.prefix_caching == "on"
        router = args.router or ("session-affinity" if caching else "round-robin")
        out.write(
            _header(args, w, rate, cluster)
            + f"twin:     vLLM 0.33 schedulers, policy {args.policy}, prefix caching "
            f"{args.prefix_caching}, router {router}; TCT in seconds; "
            "SLO: TCT <= 1.5 x isolated TCT\n\n"
        )
        r = run_twin(w, cluster, router=router, policy=args.policy, prefix_caching=caching)
    t = r.tct
    out.write(
        f"{'stack':<32}{'done':>6}{'TCT mean':>10}{'p50':>9}{'p99':>9}{'geomean':>9}"
        f"{'SLO':>7}{'KV util':>8}{'prefill':>9}{'reused':>9}{'hit':>7}{'preempt':>8}"
        f"{'tasks/min':>10}{'wall s':>8}{'steps':>9}{'events':>9}\n"
        f"{r.stack:<32}{r.tasks_completed:>6}{t.mean:>10,.1f}{t.p50:>9,.1f}{t.p99:>9,.1f}"
        f"{t.geomean:>9,.1f}{r.slo_attainment:>7.1%}{r.kv_utilization:>8.1%}"
        f"{r.prefill_tokens_computed / 1e6:>8.1f}M{r.prefill_tokens_reused / 1e6:>8.1f}M"
        f"{r.prefix_hit_rate:>7.1%}{r.preemptions:>8,}{r.throughput_tasks_per_min:>10.2f}"
        f"{r.sim_wall_seconds:>8.1f}{r.batch_steps:>9,}{r.events:>9,}\n"
    )
    if args.json:
        doc = _doc(args, w, rate, cluster)
        doc["twin"] = r.summary()
        _write_json(args.json, doc)
    return 0


def _doc(
    args: argparse.Namespace, w: Workload, rate: float, cluster: ClusterConfig
) -> dict[str, Any]:
    return {
        "workload": args.workload,
        "tasks": len(w),
        "llm_calls": w.llm_calls,
        "rate_per_min": rate,
        "seed": args.seed,
        "cluster": cluster.describe(),
    }


def _write_json(path: str, doc: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    sys.stderr.write(f"wrote {path}\n")


def _fidelity(args: argparse.Namespace) -> int:
    from sagacore_vllm.fidelity import compare, format_table

    cluster = _cluster(args)
    w, rate = _workload(args)
    stacks = args.stack or ["vllm", "vllm-apc"]
    out = sys.stdout
    out.write(_header(args, w, rate, cluster) + "error: |sim - twin| / twin per task\n\n")
    if args.ablate:
        out.write(f"ablations: {', '.join(args.ablate)}\n\n")
    rows = compare(w, cluster, stacks, args.ablate or (), release_pins=args.pins == "release")
    out.write(format_table(rows) + "\n")
    if args.json:
        doc = _doc(args, w, rate, cluster)
        doc["ablations"] = list(args.ablate or ())
        doc["stacks"] = {r.stack: r.summary() for r in rows}
        _write_json(args.json, doc)
    return 0


def _add_pins_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pins",
        choices=("release", "hold"),
        default="release",
        help="plug-in TTL pins under memory pressure: release them before a waiting "
        "request would be refused (the plug-in's default) or hold them until they expire "
        "or the program's next call; fidelity runs the simulator the same way "
        "(SimConfig.release_pins_under_pressure)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with the ``check``, ``bench``, ``twin`` and ``fidelity`` subcommands."""
    parser = argparse.ArgumentParser(
        prog="sagacore-vllm", description="Real vLLM schedulers stepped on a CPU."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    check = sub.add_parser("check", help="build a scheduler and show a prefix-cache hit")
    check.set_defaults(func=_check)
    bench = sub.add_parser("bench", help="step N requests through one scheduler")
    bench.add_argument("--requests", type=int, default=200)
    bench.add_argument("--prompt-tokens", type=int, default=550)
    bench.add_argument("--output-tokens", type=int, default=50)
    bench.add_argument("--num-gpu-blocks", type=int, default=8192)
    bench.add_argument("--max-num-batched-tokens", type=int, default=2048)
    bench.add_argument("--max-num-seqs", type=int, default=128)
    bench.set_defaults(func=_bench)

    twin = sub.add_parser(
        "twin",
        help="replay a sagacore workload through real vLLM schedulers; sagacore's metrics",
        description="Replay a sagacore workload (chains or DAGs of calls) through one real vLLM "
        "0.33 scheduler per instance of a sagacore cluster, steps priced by sagacore's "
        "cost model, and print the metrics `sagacore simulate` prints.",
    )
    _add_workload_args(twin)
    twin.add_argument(
        "--policy",
        choices=("fcfs", "priority"),
        default="fcfs",
        help="vLLM scheduling policy (priority: the task's arrival rank)",
    )
    twin.add_argument(
        "--prefix-caching",
        choices=("on", "off"),
        default="on",
        help="vLLM automatic prefix caching (default on)",
    )
    twin.add_argument(
        "--router",
        choices=_ROUTERS,
        help="sagacore router (default: session-affinity with prefix "
        "caching, round-robin without, as the vllm-apc and vllm stacks)",
    )
    from sagacore_vllm.fidelity import stack_names

    names = stack_names()
    twin.add_argument(
        "--stack",
        choices=names,
        metavar="NAME",
        help="run a sagacore stack (its scheduler and cache policy inside vLLM through the "
        "plug-in, its router in front; work stealing off); overrides --policy, "
        "--prefix-caching and --router. One of: " + ", ".join(names),
    )
    _add_pins_arg(twin)
    twin.set_defaults(func=_twin)

    fid = sub.add_parser(
        "fidelity",
        help="compare sagacore's simulator with the twin on the same workload",
        description="Run the same workload (same arrivals, cluster and cost model) "
        "through sagacore's simulator and the twin under each vLLM stack, and print the "
        "per-task TCT error |sim - twin| / twin, hit rates and preemptions.",
    )
    _add_workload_args(fid)
    fid.add_argument(
        "--stack",
        action="append",
        choices=names,
        metavar="NAME",
        help="stack to compare (repeat; default: vllm and vllm-apc); vllm, vllm-apc, "
        "vllm-priority and vllm-apc-priority run vLLM's own policies, the others run "
        "inside vLLM through the plug-in. One of: " + ", ".join(names),
    )
    _add_pins_arg(fid)
    from sagacore_vllm.ablations import ABLATIONS

    fid.add_argument(
        "--ablate",
        action="append",
        choices=sorted(ABLATIONS),
        help="remove one known difference (repeat; diagnostics): "
        + "; ".join(f"{a.name}: {a.description}" for a in ABLATIONS.values()),
    )
    fid.set_defaults(func=_fidelity)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except SagacoreError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except Exception as exc:  # a bug (InternalError or unexpected): a short report, exit 1
        from sagacore.cli import report_bug

        report_bug(exc)
        return 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
