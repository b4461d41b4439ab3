"""``sagacore cost``: what the cost model predicts for one engine instance.

Prints the KV bytes per token, the KV-cache capacity, the time to prefill a prompt and
the time of one decode step of a batch, for a model preset on ``tp`` GPUs of a GPU
preset, with the cost model's default (calibrated) parameters. ``--json`` has no
timing fields: identical runs print identical bytes.
"""

from __future__ import annotations

import argparse
import json
import sys

from sagacore.cli._args import int_at_least
from sagacore.engine import GPUS, MODELS, CostModel
from sagacore.workload.readers._common import MAX_TOKENS

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cost``."""
    p = sub.add_parser(
        "cost",
        help="predict step times and KV capacity of an engine instance",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    p.add_argument(
        "--model", required=True, metavar="M", help=f"model preset ({', '.join(sorted(MODELS))})"
    )
    p.add_argument(
        "--gpu", required=True, metavar="G", help=f"GPU preset ({', '.join(sorted(GPUS))})"
    )
    p.add_argument("--tp", type=int_at_least(1, 64), default=1, metavar="N",
                   help="tensor-parallel degree (1)")
    p.add_argument(
        "--prompt-tokens",
        type=int_at_least(0, MAX_TOKENS),
        default=2048,
        metavar="P",
        help="prompt tokens to prefill, none cached (2048)",
    )
    p.add_argument(
        "--batch", type=int_at_least(0, 10**6), default=32, metavar="B",
        help="decoding sequences in the step (32)"
    )
    p.add_argument(
        "--context",
        type=int_at_least(0, MAX_TOKENS),
        default=2048,
        metavar="C",
        help="cached tokens of each decoding sequence (2048)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    cost = CostModel.from_presets(args.model, args.gpu, args.tp)
    result: dict[str, str | int | float] = {
        "model": args.model,
        "gpu": args.gpu,
        "tp": args.tp,
        "prompt_tokens": args.prompt_tokens,
        "batch": args.batch,
        "context": args.context,
        "kv_bytes_per_token": cost.kv_bytes_per_token(),
        "kv_capacity_tokens": cost.kv_capacity_tokens(),
        "prefill_seconds": cost.prefill_seconds(args.prompt_tokens),
        "decode_step_seconds": cost.decode_step_seconds(args.batch, args.batch * args.context),
    }
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    out.write(f"instance: {args.model} on {args.tp} x {args.gpu}\n")
    out.write(f"kv_bytes_per_token   {result['kv_bytes_per_token']}\n")
    out.write(f"kv_capacity_tokens   {result['kv_capacity_tokens']}\n")
    out.write(
        f"prefill_seconds      {result['prefill_seconds']:.6f}"
        f"  ({args.prompt_tokens} prompt tokens)\n"
    )
    out.write(
        f"decode_step_seconds  {result['decode_step_seconds']:.6f}"
        f"  (batch {args.batch}, {args.context} context tokens each)\n"
    )
    return 0
