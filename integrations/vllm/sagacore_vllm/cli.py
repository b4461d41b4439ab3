"""The ``sagacore-vllm`` command line.

``sagacore-vllm check`` builds a scheduler and shows a prefix-cache hit (a smoke test of
an install); ``sagacore-vllm bench`` steps N identical-shape requests through one
scheduler and prints the step count and CPU time. Any
:class:`~sagacore.errors.SagacoreError` becomes one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from sagacore.errors import SagacoreError

__all__ = ["build_parser", "main"]


def _check(args: argparse.Namespace) -> int:
    import torch

    from sagacore_vllm.engine import EngineConfig, VllmEngine, vllm_version

    engine = VllmEngine(EngineConfig(num_gpu_blocks=256))
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
    from sagacore_vllm.engine import EngineConfig, VllmEngine

    config = EngineConfig(
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


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with the ``check`` and ``bench`` subcommands."""
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except SagacoreError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return status


if __name__ == "__main__":
    raise SystemExit(main())
