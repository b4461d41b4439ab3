"""Published measurements the cost model is checked against, and its calibration.

:data:`PUBLISHED_LATENCIES` holds end-to-end latencies published by the vLLM project
and by NVIDIA (sources in each point and in ``docs/cost-model.md``); :func:`evaluate`
predicts each with a :class:`Calibration` (by default the cost model's defaults) and
returns the relative errors. :func:`fit_calibration` is how the defaults were obtained:
a least-squares fit of the relative errors of all points, rounded (:meth:`Calibration.rounded`).
:data:`PUBLISHED_KV_CAPACITIES` holds KV-cache sizes from vLLM logs.

Run ``python -m sagacore.engine.validation`` to print every table of the document.

Examples
--------
>>> from sagacore.engine.validation import LATENCY_ERROR_BOUND, PUBLISHED_LATENCIES, evaluate
>>> rows = evaluate()
>>> len(rows) == len(PUBLISHED_LATENCIES)
True
>>> max(abs(row.relative_error) for row in rows) < LATENCY_ERROR_BOUND
True
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from sagacore.engine.cost import (
    DEFAULT_ALLREDUCE_LATENCY_S,
    DEFAULT_BANDWIDTH_EFFICIENCY,
    DEFAULT_COMPUTE_EFFICIENCY,
    DEFAULT_ROOFLINE_EXPONENT,
    DEFAULT_STEP_OVERHEAD_S,
    CostModel,
    attention_pairs,
)
from sagacore.errors import ConfigError, SolverError
from sagacore.validate import positive_int

__all__ = [
    "LATENCY_ERROR_BOUND",
    "PUBLISHED_KV_CAPACITIES",
    "PUBLISHED_LATENCIES",
    "Calibration",
    "Evaluation",
    "PublishedKVCapacity",
    "PublishedLatency",
    "evaluate",
    "fit_calibration",
    "leave_one_out",
    "main",
]

#: The stated bound: with the default calibration every published latency is predicted
#: within this relative error (checked by ``tests/test_engine_validation.py``).
LATENCY_ERROR_BOUND = 0.08

_GIB = 2**30

_VLLM_BENCH = (
    "vLLM performance benchmark (Buildkite pipeline vllm/performance-benchmark, build {build}), "
    "'Latency tests' table: benchmarks/benchmark_latency.py, {gpu}, {model}, "
    "tp={tp}, 8 prompts of 32 tokens, 128 output tokens each, dummy weights, "
    "mean of 15 runs after 5 warm-up runs"
)
_TRT_LLM = (
    "NVIDIA TensorRT-LLM docs/source/performance.md, section 'Low Latency', table "
    "'A100 GPUs (FP16)' (data from TensorRT-LLM v0.5, A100 SXM 80GB): 1st token latency, "
    "{model}, batch size 1, tp={tp}, input length {n}"
)
_TRT_URL = "https://github.com/NVIDIA/TensorRT-LLM/blob/release/0.5.0/docs/source/performance.md"


@dataclass(frozen=True)
class PublishedLatency:
    """One published latency measurement and the scenario that reproduces it.

    Examples
    --------
    >>> from sagacore.engine.validation import PUBLISHED_LATENCIES
    >>> point = PUBLISHED_LATENCIES[0]
    >>> point.key, point.measured_seconds
    ('vllm-a100-llama3-8b-tp1', 1.57927)
    """

    key: str
    """Short unique name of the point."""
    model: str
    """Model preset it was measured with."""
    gpu: str
    """GPU preset it was measured on."""
    tp: int
    """Tensor-parallel degree."""
    kind: Literal["latency_benchmark", "first_token"]
    """``latency_benchmark``: vLLM's ``benchmark_latency.py``, one batch of equal prompts
    prefilled in one step then decoded together to the end; ``first_token``: the time to
    the first token of one prompt (one prefill step)."""
    batch_size: int
    """Prompts in the batch."""
    input_tokens: int
    """Tokens per prompt."""
    output_tokens: int
    """Tokens generated per prompt (the first by the prefill step)."""
    measured_seconds: float
    """The published value, seconds."""
    source: str
    """Where it was published: document, table, hardware, model, setting."""
    url: str
    """Address of the source."""

    def __post_init__(self) -> None:
        for name in ("tp", "batch_size", "input_tokens", "output_tokens"):
            positive_int(f"PublishedLatency.{name}", getattr(self, name))
        if self.kind == "first_token" and (self.batch_size, self.output_tokens) != (1, 1):
            raise ConfigError(
                f"a first_token point has batch_size 1 and output_tokens 1, got "
                f"{self.batch_size} and {self.output_tokens}"
            )

    def predict(self, cost: CostModel) -> float:
        """The latency `cost` predicts for this scenario, seconds.

        Examples
        --------
        >>> from sagacore.engine.validation import PUBLISHED_LATENCIES
        >>> point = PUBLISHED_LATENCIES[0]
        >>> 1.4 < point.predict(point.cost_model()) < 1.7
        True
        """
        if self.kind == "first_token":
            return cost.prefill_seconds(self.input_tokens)
        b, n = self.batch_size, self.input_tokens
        prefill = cost.step_seconds(b * n, prefill_attention_pairs=b * attention_pairs(n))
        return prefill + cost.decode_steps_seconds(b, b * n, self.output_tokens - 1)

    def cost_model(self, calibration: Calibration | None = None) -> CostModel:
        """The cost model of this point's instance, with `calibration` (default: defaults)."""
        cost = CostModel.from_presets(self.model, self.gpu, self.tp)
        return (calibration or Calibration()).apply(cost)


def _vllm(key: str, model: str, gpu: str, tp: int, build: int, seconds: float) -> PublishedLatency:
    names = {"a100-80gb": "A100-SXM4-80GB", "h100-80gb": "8xH100", "h200": "H200"}
    hf = {
        "llama-3-8b": "meta-llama/Meta-Llama-3-8B",
        "llama-3-70b": "meta-llama/Meta-Llama-3-70B-Instruct",
    }
    return PublishedLatency(
        key=key,
        model=model,
        gpu=gpu,
        tp=tp,
        kind="latency_benchmark",
        batch_size=8,
        input_tokens=32,
        output_tokens=128,
        measured_seconds=seconds,
        source=_VLLM_BENCH.format(build=build, gpu=names[gpu], model=hf[model], tp=tp),
        url=f"https://buildkite.com/vllm/performance-benchmark/builds/{build}",
    )


def _trt(key: str, model: str, tp: int, n: int, seconds: float) -> PublishedLatency:
    name = {"llama-2-7b": "LLaMA 7B (Llama-2-7B)", "llama-2-70b": "LLaMA 70B (Llama-2-70B)"}
    return PublishedLatency(
        key=key,
        model=model,
        gpu="a100-80gb",
        tp=tp,
        kind="first_token",
        batch_size=1,
        input_tokens=n,
        output_tokens=1,
        measured_seconds=seconds,
        source=_TRT_LLM.format(model=name[model], tp=tp, n=n),
        url=_TRT_URL,
    )


PUBLISHED_LATENCIES: tuple[PublishedLatency, ...] = (
    _vllm("vllm-a100-llama3-8b-tp1", "llama-3-8b", "a100-80gb", 1, 9523, 1.57927),
    _vllm("vllm-a100-llama3-70b-tp4", "llama-3-70b", "a100-80gb", 4, 9523, 3.99059),
    _vllm("vllm-h100-llama3-8b-tp1", "llama-3-8b", "h100-80gb", 1, 9555, 0.997542),
    _vllm("vllm-h100-llama3-70b-tp4", "llama-3-70b", "h100-80gb", 4, 9555, 2.44447),
    _vllm("vllm-h200-llama3-8b-tp1", "llama-3-8b", "h200", 1, 9513, 0.834059),
    _vllm("vllm-h200-llama3-70b-tp4", "llama-3-70b", "h200", 4, 9513, 2.07508),
    _trt("trtllm-a100-llama2-7b-128", "llama-2-7b", 1, 128, 0.016),
    _trt("trtllm-a100-llama2-7b-2048", "llama-2-7b", 1, 2048, 0.133),
    _trt("trtllm-a100-llama2-70b-128", "llama-2-70b", 4, 128, 0.047),
    _trt("trtllm-a100-llama2-70b-2048", "llama-2-70b", 4, 2048, 0.377),
)
"""Published latencies the cost model is validated (and calibrated) against."""


@dataclass(frozen=True)
class PublishedKVCapacity:
    """A KV-cache size that vLLM logged at start-up, in tokens."""

    key: str
    """Short unique name of the point."""
    model: str
    """Model preset."""
    gpu: str
    """GPU preset."""
    tp: int
    """Tensor-parallel degree."""
    measured_tokens: int
    """KV-cache capacity, tokens (``# GPU blocks`` times 16, or logged bytes / bytes per token)."""
    role: Literal["calibration", "validation", "not modelled"]
    """``calibration``: the reserve defaults were read off this log, so it agrees by
    construction; ``validation``: independent; ``not modelled``: an older vLLM whose
    memory profiling reserved memory the model does not account for."""
    source: str
    """Where it was published."""
    url: str
    """Address of the source."""

    def predict(self) -> int:
        """The capacity the default cost model predicts, tokens."""
        return CostModel.from_presets(self.model, self.gpu, self.tp).kv_capacity_tokens()


def _tokens_in(gib: float, model_kv_bytes: int, block: int = 16) -> int:
    return math.floor(gib * _GIB / (block * model_kv_bytes)) * block


PUBLISHED_KV_CAPACITIES: tuple[PublishedKVCapacity, ...] = (
    PublishedKVCapacity(
        key="vllm-h100-llama3-8b-tp1",
        model="llama-3-8b",
        gpu="h100-80gb",
        tp=1,
        measured_tokens=_tokens_in(53.29, 131072),
        role="calibration",
        source=(
            "vLLM PR #10511 ('[core] overhaul memory profiling'), comment of 2024-12-14: "
            "`vllm serve meta-llama/Meta-Llama-3-8B` on an H100-80G (total_gpu_memory "
            "79.22 GiB), gpu_memory_utilization 0.90: weights 14.96 GiB, non-torch 1.79 GiB, "
            "activation peak 1.26 GiB, available_kv_cache_memory 53.29 GiB"
        ),
        url="https://github.com/vllm-project/vllm/pull/10511",
    ),
    PublishedKVCapacity(
        key="vllm-a100-llama2-7b-tp1",
        model="llama-2-7b",
        gpu="a100-80gb",
        tp=1,
        measured_tokens=7351 * 16,
        role="validation",
        source=(
            "vLLM PR #2031 ('Fix peak memory profiling'), comment of 2023-12-12: "
            "Llama2-7B, TP=1, 1xA100-80GB, '# GPU blocks: 7351' (block size 16)"
        ),
        url="https://github.com/vllm-project/vllm/pull/2031",
    ),
    PublishedKVCapacity(
        key="vllm-a100-llama2-70b-tp4",
        model="llama-2-70b",
        gpu="a100-80gb",
        tp=4,
        measured_tokens=20865 * 16,
        role="not modelled",
        source=(
            "vLLM PR #2031 ('Fix peak memory profiling'), comment of 2023-12-12: "
            "Llama2-70B, TP=4, 4xA100-80GB, '# GPU blocks: 20865' (block size 16)"
        ),
        url="https://github.com/vllm-project/vllm/pull/2031",
    ),
)
"""KV-cache capacities from vLLM logs."""


@dataclass(frozen=True)
class Calibration:
    """The five calibrated parameters of :class:`~sagacore.engine.cost.CostModel`.

    Examples
    --------
    >>> from sagacore.engine.validation import Calibration
    >>> Calibration().compute_efficiency
    0.7
    >>> Calibration(0.701234, 0.744444, 0.00192, 2.45e-05, 1.2075).rounded()
    Calibration(compute_efficiency=0.7, bandwidth_efficiency=0.74, step_overhead_s=0.0019, allreduce_latency_s=2.4e-05, roofline_exponent=1.2)
    """

    compute_efficiency: float = DEFAULT_COMPUTE_EFFICIENCY
    """Fraction of peak FLOP/s reached."""
    bandwidth_efficiency: float = DEFAULT_BANDWIDTH_EFFICIENCY
    """Fraction of peak HBM bandwidth reached."""
    step_overhead_s: float = DEFAULT_STEP_OVERHEAD_S
    """Fixed time per step, seconds."""
    allreduce_latency_s: float = DEFAULT_ALLREDUCE_LATENCY_S
    """Fixed latency per all-reduce, seconds."""
    roofline_exponent: float = DEFAULT_ROOFLINE_EXPONENT
    """Exponent of the smooth roofline."""

    def apply(self, cost: CostModel) -> CostModel:
        """`cost` with these five parameters."""
        return dataclasses.replace(
            cost,
            compute_efficiency=self.compute_efficiency,
            bandwidth_efficiency=self.bandwidth_efficiency,
            step_overhead_s=self.step_overhead_s,
            allreduce_latency_s=self.allreduce_latency_s,
            roofline_exponent=self.roofline_exponent,
        )

    def rounded(self) -> Calibration:
        """Rounded as the defaults are: 2 decimals, 0.1 ms, 1 us and 1 decimal."""
        return Calibration(
            compute_efficiency=round(self.compute_efficiency, 2),
            bandwidth_efficiency=round(self.bandwidth_efficiency, 2),
            step_overhead_s=round(self.step_overhead_s, 4),
            allreduce_latency_s=round(self.allreduce_latency_s, 6),
            roofline_exponent=round(self.roofline_exponent, 1),
        )


class Evaluation(NamedTuple):
    """A published point, the model's prediction and ``predicted / measured - 1``."""

    point: PublishedLatency
    predicted_seconds: float
    relative_error: float


def evaluate(
    calibration: Calibration | None = None,
    points: Sequence[PublishedLatency] = PUBLISHED_LATENCIES,
) -> list[Evaluation]:
    """Predict every point with `calibration` (default: the cost model's defaults).

    Examples
    --------
    >>> from sagacore.engine.validation import evaluate
    >>> row = evaluate()[0]
    >>> row.relative_error == row.predicted_seconds / row.point.measured_seconds - 1
    True
    """
    rows = []
    for point in points:
        predicted = point.predict(point.cost_model(calibration))
        rows.append(Evaluation(point, predicted, predicted / point.measured_seconds - 1))
    return rows


# Bounds of the fit: efficiencies in (0, 1], overhead <= 20 ms, all-reduce latency <= 1 ms,
# roofline exponent in [1, 50] (50 is the classic max for all practical purposes).
_LOWER = (0.05, 0.05, 0.0, 0.0, 1.0)
_UPPER = (1.0, 1.0, 0.02, 1e-3, 50.0)
_START = (0.6, 0.8, 2e-3, 2e-5, 2.0)
_SCALE = (0.1, 0.1, 1e-3, 1e-5, 0.5)


def fit_calibration(points: Sequence[PublishedLatency] = PUBLISHED_LATENCIES) -> Calibration:
    """Least-squares fit of the five parameters to the relative errors of `points`.

    Minimises ``sum((predicted / measured - 1) ** 2)`` with SciPy's trust-region
    reflective method from a fixed start, within physical bounds (efficiencies in
    [0.05, 1], overhead in [0, 20 ms], all-reduce latency in [0, 1 ms], exponent in
    [1, 50]). Deterministic. The defaults of the cost model are
    ``fit_calibration().rounded()``.

    Raises
    ------
    SolverError
        If the optimiser does not converge.
    """
    from scipy.optimize import least_squares

    def residuals(theta: Sequence[float]) -> list[float]:
        calibration = Calibration(*(float(x) for x in theta))
        return [row.relative_error for row in evaluate(calibration, points)]

    result = least_squares(residuals, _START, bounds=(_LOWER, _UPPER), x_scale=_SCALE, method="trf")
    if not result.success:
        raise SolverError(f"calibration fit did not converge: {result.message}")
    return Calibration(*(float(x) for x in result.x))


def leave_one_out(
    points: Sequence[PublishedLatency] = PUBLISHED_LATENCIES,
) -> list[Evaluation]:
    """Each point predicted by a calibration fitted to all the others (held-out error)."""
    rows = []
    for i, point in enumerate(points):
        calibration = fit_calibration([*points[:i], *points[i + 1 :]])
        rows.extend(evaluate(calibration, [point]))
    return rows


def _latency_table(rows: Sequence[Evaluation]) -> list[str]:
    lines = [
        "| point | model | GPU x tp | scenario | measured (ms) | predicted (ms) | error |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for row in rows:
        p = row.point
        if p.kind == "first_token":
            scenario = f"first token, {p.input_tokens}-token prompt"
        else:
            scenario = f"{p.batch_size} x {p.input_tokens} in, {p.output_tokens} out"
        lines.append(
            f"| `{p.key}` | {p.model} | {p.gpu} x {p.tp} | {scenario} | "
            f"{p.measured_seconds * 1e3:.1f} | {row.predicted_seconds * 1e3:.1f} | "
            f"{row.relative_error:+.1%} |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Print the validation tables (markdown); with ``--fit`` also refit and cross-validate."""
    parser = argparse.ArgumentParser(
        prog="python -m sagacore.engine.validation", description=main.__doc__
    )
    parser.add_argument("--fit", action="store_true", help="refit the calibration and run LOO")
    args = parser.parse_args(argv)
    defaults = Calibration()
    print(f"Default calibration: {defaults}\n")
    rows = evaluate(defaults)
    print("\n".join(_latency_table(rows)))
    worst = max(abs(row.relative_error) for row in rows)
    rms = math.sqrt(sum(row.relative_error**2 for row in rows) / len(rows))
    print(f"\nmax |error| {worst:.1%}, rms {rms:.1%}, stated bound {LATENCY_ERROR_BOUND:.0%}\n")
    print("| point | model | GPU x tp | role | measured (tokens) | predicted (tokens) | error |")
    print("|---|---|---|---|---:|---:|---:|")
    for kv in PUBLISHED_KV_CAPACITIES:
        predicted = kv.predict()
        print(
            f"| `{kv.key}` | {kv.model} | {kv.gpu} x {kv.tp} | {kv.role} | "
            f"{kv.measured_tokens:,} | {predicted:,} | {predicted / kv.measured_tokens - 1:+.1%} |"
        )
    if args.fit:
        fitted = fit_calibration()
        print(f"\nFitted: {fitted}\nRounded: {fitted.rounded()}\n")
        loo = leave_one_out()
        print("Leave-one-out (each point predicted by a fit to the other nine):\n")
        print("\n".join(_latency_table(loo)))
        worst = max(abs(row.relative_error) for row in loo)
        print(f"\nmax |held-out error| {worst:.1%}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
