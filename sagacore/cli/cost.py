"""``sagacore cost``: what the cost model predicts for one engine instance.

Prints the KV bytes per token, the KV-cache capacity, the time to prefill a prompt and
the time of one decode step of a batch, for a model preset on ``tp`` GPUs of a GPU
preset, with the cost model's default (calibrated) parameters. ``--json`` has no
timing fields: identical runs print identical bytes.

With ``--profile FILE`` (a measured operator profile, see ``cost profile``) the prefill
and decode times come from the profile where its grid covers the step and from the
roofline elsewhere (``simulate --profile FILE`` prices its steps the same way); the
output names the source of each, the roofline's error against the profile per operator
and per step, and how closely the measured model's attention lines fit the profile. ``sagacore cost profile --model M --tp N
--out FILE`` times one decoder layer's operators with torch on this machine's device
(the ``torch`` extra) and writes such a profile (docs/cost-model.md, "Measured
profiles").
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from typing import Any

from sagacore.cli._args import add_quiet, check_output, int_at_least
from sagacore.cli._progress import Progress
from sagacore.engine import GPUS, MODELS, CostModel, get_model
from sagacore.errors import ConfigError
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
        "action", nargs="?", choices=["profile"], default=None,
        help="'profile': time one layer's operators with torch and write --out",
    )
    p.add_argument(
        "--model", required=True, metavar="M", help=f"model preset ({', '.join(sorted(MODELS))})"
    )
    p.add_argument(
        "--gpu", metavar="G",
        help=f"GPU preset ({', '.join(sorted(GPUS))}); required unless 'profile'"
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
    p.add_argument(
        "--profile", metavar="FILE",
        help="a measured profile: use it where its grid covers a step, report its errors",
    )
    g = p.add_argument_group("cost profile")
    g.add_argument("--out", metavar="FILE", help="profile file to write (required)")
    g.add_argument("--batch-sizes", type=_int_list(1), default=_PROFILE_DEFAULTS["batch_sizes"],
                   metavar="LIST", help="decoding sequences per step (1,2,4,...,128)")
    g.add_argument("--new-tokens", type=_int_list(1), default=_PROFILE_DEFAULTS["new_tokens"],
                   metavar="LIST", help="tokens of a prefill chunk (16,64,256,512,1024,2048)")
    g.add_argument("--context-lengths", type=_int_list(0),
                   default=_PROFILE_DEFAULTS["context_lengths"], metavar="LIST",
                   help="cached tokens before a chunk / per sequence (0,256,...,8192)")
    g.add_argument("--warmup", type=int_at_least(0, 1000), default=_PROFILE_DEFAULTS["warmup"], metavar="N",
                   help="untimed runs per shape (3)")
    g.add_argument("--repeats", type=int_at_least(1, 10000), default=_PROFILE_DEFAULTS["repeats"], metavar="N",
                   help="timed runs per shape; the median is kept (10)")
    g.add_argument("--device", metavar="D", help="torch device (default: cuda if seen, else cpu)")
    add_quiet(p)
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=_run)


#: Defaults of the flags only ``cost profile`` takes.
_PROFILE_DEFAULTS: dict[str, object] = {
    "batch_sizes": (1, 2, 4, 8, 16, 32, 64, 128),
    "new_tokens": (16, 64, 256, 512, 1024, 2048),
    "context_lengths": (0, 256, 1024, 2048, 4096, 8192),
    "warmup": 3,
    "repeats": 10,
    "device": None,
}


def _int_list(minimum: int) -> Any:
    """An argparse type: comma-separated increasing integers >= minimum."""

    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(x) for x in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated integers >= {minimum}, got {text!r}"
            ) from None
        if any(v < minimum or v > 10**7 for v in values) or any(
            b <= a for a, b in itertools.pairwise(values)
        ):
            raise argparse.ArgumentTypeError(
                f"expected increasing integers in [{minimum}, 10000000], got {text!r}"
            )
        return values

    parse.__name__ = "list"
    return parse


def _profile(args: argparse.Namespace) -> int:
    from sagacore.engine.profile import ProfileGrid, run_profile

    if not args.out:
        raise ConfigError("cost profile needs --out FILE")
    for flag in ("gpu", "profile"):
        if getattr(args, flag) is not None:
            raise ConfigError(f"cost profile takes no --{flag} (it measures this machine)")
    check_output("--out", args.out)
    model = get_model(args.model)
    grid = ProfileGrid(args.batch_sizes, args.new_tokens, args.context_lengths)
    bar = Progress("cost profile", quiet=args.quiet, unit="shapes")
    t0 = time.perf_counter()
    command = (
        f"sagacore cost profile --model {args.model} --tp {args.tp} "
        f"--batch-sizes {','.join(map(str, grid.batch_sizes))} "
        f"--new-tokens {','.join(map(str, grid.new_tokens))} "
        f"--context-lengths {','.join(map(str, grid.context_lengths))} "
        f"--warmup {args.warmup} --repeats {args.repeats}"
    )
    prof = run_profile(
        model, args.tp, grid, device=args.device, warmup=args.warmup, repeats=args.repeats,
        progress=bar, meta={"command": command,
                            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    )
    bar.close()
    prof.save(args.out)
    summary = {"out": args.out, "model": prof.model, "tp": prof.tp, "device": prof.device,
               "dtype": prof.dtype, "timing": prof.timing,
               "seconds": round(time.perf_counter() - t0, 3)}
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(
            f"wrote {args.out}: {prof.model} tp={prof.tp} on {prof.device} ({prof.dtype}, "
            f"{prof.timing}), {summary['seconds']} s\n"
        )
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.action == "profile":
        return _profile(args)
    if args.gpu is None:
        raise ConfigError("cost needs --gpu G (only 'cost profile' runs without one)")
    if args.out is not None:
        raise ConfigError("--out is for 'cost profile'; did you mean --profile FILE?")
    for flag in ("batch_sizes", "new_tokens", "context_lengths", "warmup", "repeats", "device"):
        if getattr(args, flag) != _PROFILE_DEFAULTS[flag]:
            raise ConfigError(f"--{flag.replace('_', '-')} is for 'cost profile'")
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
    errors: dict[str, Any] | None = None
    if args.profile is not None:
        from sagacore.engine.profile import profile_errors, with_profile

        measured = with_profile(cost, args.profile)
        ctx = args.batch * args.context
        result.update({
            "profile": args.profile,
            "profile_device": measured.profile.device,
            "roofline_prefill_seconds": result["prefill_seconds"],
            "roofline_decode_step_seconds": result["decode_step_seconds"],
            "prefill_seconds": measured.prefill_seconds(args.prompt_tokens),
            "decode_step_seconds": measured.decode_step_seconds(args.batch, ctx),
            "prefill_source": "profile" if args.prompt_tokens and measured.covers(
                args.prompt_tokens) else "roofline",
            "decode_source": "profile" if args.batch and measured.covers(
                decode_seqs=args.batch, decode_context_tokens=ctx) else "roofline",
        })
        errors = profile_errors(cost, measured.profile)
    if args.json:
        if errors is not None:
            json.dump({**result, "roofline_error": errors}, sys.stdout, indent=2)
            sys.stdout.write("\n")
            return 0
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
    if errors is not None:
        out.write(
            f"profile              {args.profile} ({result['profile_device']}); prefill from "
            f"the {result['prefill_source']}, decode from the {result['decode_source']}\n"
        )
        titles = {
            "operators": "roofline error against the profile (roofline / measured - 1), "
                         "median [min, max] over the grid:",
            "fit": "the measured model's attention lines against the profile "
                   "(line / measured - 1):",
        }
        for group in ("operators", "steps", "fit"):
            if group in titles:
                out.write(titles[group] + "\n")
            for name, e in errors[group].items():
                if e["median"] is None:
                    out.write(f"  {name:<14} n/a ({e['points']} points, none measured > 0)\n")
                    continue
                out.write(
                    f"  {name:<14} {e['median']:+8.1%} [{e['min']:+.1%}, {e['max']:+.1%}]"
                    f"  ({e['points']} points)\n"
                )
    return 0
