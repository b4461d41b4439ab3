"""A cost model measured on hardware: operator profiles of one decoder layer.

:func:`run_profile` times the operators of one decoder layer of a model at its
tensor-parallel slice (the heads, KV heads, MLP width and vocabulary each GPU holds) with
PyTorch, on whatever device torch sees, over a grid of batch sizes, new tokens and
context lengths. The result is a :class:`Profile`, saved as a versioned JSON file
(``docs/cost-model.md``, "Measured profiles"). :class:`MeasuredCostModel`, a
:class:`~sagacore.engine.cost.CostModel` (:func:`with_profile` builds one from a file),
prices a step from the profile where its grid covers the step and with the roofline
elsewhere, so the simulator runs on it unchanged; :func:`profile_errors` reports the
roofline's error against the profile per operator and per step.

Only :func:`run_profile` needs torch (the ``torch`` extra); reading a profile and pricing
with it does not.

Examples
--------
>>> from sagacore.engine import CostModel
>>> from sagacore.engine.profile import MeasuredCostModel, Profile, ProfileGrid
>>> grid = ProfileGrid(batch_sizes=(1, 8), new_tokens=(16, 64), context_lengths=(0, 512))
>>> cost = CostModel.from_presets("llama-3-8b", "h100-80gb")
>>> profile = Profile.from_roofline(cost, grid)  # a synthetic profile: the roofline's own
>>> measured = MeasuredCostModel.from_profile(cost, profile)
>>> measured.covers(decode_seqs=4, decode_context_tokens=4 * 300)
True
>>> measured.covers(decode_seqs=64, decode_context_tokens=64 * 300)  # beyond the grid
False
>>> measured.step_seconds(decode_seqs=64, decode_context_tokens=64 * 300) == (
...     cost.step_seconds(decode_seqs=64, decode_context_tokens=64 * 300))
True
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property, partial
from pathlib import Path
from typing import Any

from sagacore.engine.cost import CostModel, StepBreakdown, attention_pairs
from sagacore.engine.specs import ModelSpec
from sagacore.errors import ConfigError
from sagacore.validate import nonempty_str, positive, positive_int

__all__ = [
    "GEMM_OPERATORS",
    "OPERATORS",
    "PROFILE_FORMAT",
    "PROFILE_VERSION",
    "MeasuredCostModel",
    "Profile",
    "ProfileGrid",
    "layer_shapes",
    "load_profile",
    "profile_errors",
    "roofline_operator_seconds",
    "run_profile",
    "with_profile",
]

#: The ``format`` field of every profile file.
PROFILE_FORMAT = "sagacore-profile"
#: The ``version`` field this module writes and reads.
PROFILE_VERSION = 1
#: Operators timed over a token count (``lm_head`` over decoding sequences only).
GEMM_OPERATORS = ("qkv", "o_proj", "mlp", "norms", "lm_head")
#: Every operator of a profile, in the order reports list them.
OPERATORS = (*GEMM_OPERATORS, "attn_prefill", "attn_decode")


def _positive_ints(name: str, values: object, *, zero_ok: bool = False) -> tuple[int, ...]:
    if not isinstance(values, list | tuple) or not values:
        raise ConfigError(f"{name} must be a non-empty list of integers, got {values!r}")
    low = 0 if zero_ok else 1
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ConfigError(f"{name} must hold integers >= {low}, got {v!r} in {values!r}")
    out = tuple(values)
    if any(b <= a for a, b in itertools.pairwise(out)):
        raise ConfigError(f"{name} must be strictly increasing, got {list(out)!r}")
    return out


@dataclass(frozen=True)
class ProfileGrid:
    """The shapes a profile times.

    Examples
    --------
    >>> from sagacore.engine.profile import ProfileGrid
    >>> ProfileGrid((1, 4), (16,), (0, 128)).tokens
    (1, 4, 16)
    >>> ProfileGrid((4, 1), (16,), (0,))
    Traceback (most recent call last):
    ...
    sagacore.errors.ConfigError: batch_sizes must be strictly increasing, got [4, 1]
    """

    batch_sizes: tuple[int, ...]
    """Decoding sequences per step (decode attention and the LM head), increasing, >= 1."""
    new_tokens: tuple[int, ...]
    """Tokens of one prefill chunk (prefill attention), increasing, >= 1."""
    context_lengths: tuple[int, ...]
    """Cached tokens before a chunk or per decoding sequence, increasing, >= 0."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "batch_sizes", _positive_ints("batch_sizes", self.batch_sizes))
        object.__setattr__(self, "new_tokens", _positive_ints("new_tokens", self.new_tokens))
        object.__setattr__(
            self,
            "context_lengths",
            _positive_ints("context_lengths", self.context_lengths, zero_ok=True),
        )

    @property
    def tokens(self) -> tuple[int, ...]:
        """Token counts the GEMMs and norms are timed at: batch sizes and chunk sizes."""
        return tuple(sorted(set(self.batch_sizes) | set(self.new_tokens)))


@dataclass(frozen=True)
class LayerShapes:
    """The tensor-parallel slice of one decoder layer that one GPU computes."""

    hidden_size: int
    """Residual width ``h`` (not split)."""
    heads: int
    """Query heads per GPU, ``num_heads / tp``."""
    kv_heads: int
    """KV heads per GPU, ``num_kv_heads / tp`` or 1 when replicated."""
    head_dim: int
    """Width of one head."""
    intermediate: int
    """MLP width per GPU, ``ceil(intermediate_size / tp)``."""
    vocab: int
    """LM-head rows per GPU, ``ceil(vocab_size / tp)``."""

    def as_dict(self) -> dict[str, int]:
        """The fields as a JSON object."""
        return {
            "hidden_size": self.hidden_size,
            "heads": self.heads,
            "kv_heads": self.kv_heads,
            "head_dim": self.head_dim,
            "intermediate": self.intermediate,
            "vocab": self.vocab,
        }


def layer_shapes(model: ModelSpec, tp: int) -> LayerShapes:
    """The slice of one layer of `model` on one of `tp` GPUs (as :class:`CostModel` splits it).

    Examples
    --------
    >>> from sagacore.engine import get_model
    >>> from sagacore.engine.profile import layer_shapes
    >>> s = layer_shapes(get_model("llama-3-70b"), 4)
    >>> s.heads, s.kv_heads, s.intermediate
    (16, 2, 7168)
    """
    positive_int("tp", tp)
    if model.num_heads % tp or (model.num_kv_heads % tp and tp % model.num_kv_heads):
        raise ConfigError(
            f"tp={tp} does not split the {model.num_heads} heads / {model.num_kv_heads} KV "
            f"heads of {model.name}"
        )
    return LayerShapes(
        hidden_size=model.hidden_size,
        heads=model.num_heads // tp,
        kv_heads=max(1, model.num_kv_heads // tp),
        head_dim=model.head_dim,
        intermediate=-(-model.intermediate_size // tp),
        vocab=-(-model.vocab_size // tp),
    )


def _seconds_list(name: str, values: object, n: int) -> tuple[float, ...]:
    if not isinstance(values, list | tuple) or len(values) != n:
        raise ConfigError(f"{name} must be a list of {n} times in seconds, got {values!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise ConfigError(f"{name} must hold finite times >= 0, got {v!r}")
    return tuple(float(v) for v in values)


def _seconds_table(name: str, rows: object, n: int, m: int) -> tuple[tuple[float, ...], ...]:
    if not isinstance(rows, list | tuple) or len(rows) != n:
        raise ConfigError(f"{name} must be a list of {n} rows of {m} times, got {rows!r}")
    return tuple(_seconds_list(f"{name}[{i}]", r, m) for i, r in enumerate(rows))


@dataclass(frozen=True)
class Profile:
    """Measured times of the operators of one decoder layer at a tensor-parallel slice.

    Every time is the median of `repeats` runs after `warmup`, for one layer on one GPU,
    seconds. See ``docs/cost-model.md`` ("Measured profiles") for the JSON format.
    """

    model: str
    """Model preset name."""
    tp: int
    """Tensor-parallel degree whose slice was timed."""
    shapes: LayerShapes
    """The slice's shapes (checked against the cost model's when pricing)."""
    grid: ProfileGrid
    """The shapes timed."""
    operators: Mapping[str, tuple[float, ...] | tuple[tuple[float, ...], ...]]
    """Times per operator: ``qkv``, ``o_proj``, ``mlp``, ``norms`` over ``grid.tokens``;
    ``lm_head`` over ``grid.batch_sizes``; ``attn_prefill`` a ``new_tokens`` x
    ``context_lengths`` table; ``attn_decode`` a ``batch_sizes`` x ``context_lengths`` one."""
    device: str = "unknown"
    """What torch ran on (``cuda: NVIDIA H200``, ``cpu``, ``roofline`` for a synthetic one)."""
    dtype: str = "bfloat16"
    """Element type of weights, activations and KV."""
    timing: str = "none"
    """``cuda-events``, ``perf-counter`` or ``none`` (synthetic)."""
    warmup: int = 0
    """Untimed runs before timing each shape."""
    repeats: int = 1
    """Timed runs per shape; the median is kept."""
    torch_version: str = ""
    """``torch.__version__`` of the run (empty for a synthetic profile)."""
    meta: Mapping[str, str] = field(default_factory=dict)
    """Free-form strings (the command, the date)."""

    def __post_init__(self) -> None:
        g = self.grid
        nonempty_str("profile model", self.model)
        positive_int("profile tp", self.tp)
        missing = [op for op in OPERATORS if op not in self.operators]
        extra = [op for op in self.operators if op not in OPERATORS]
        if missing or extra:
            raise ConfigError(
                f"profile operators must be exactly {', '.join(OPERATORS)}; "
                f"missing {missing!r}, unknown {extra!r}"
            )
        ops: dict[str, tuple[float, ...] | tuple[tuple[float, ...], ...]] = {}
        for op in ("qkv", "o_proj", "mlp", "norms"):
            ops[op] = _seconds_list(f"operators.{op}", self.operators[op], len(g.tokens))
        ops["lm_head"] = _seconds_list(
            "operators.lm_head", self.operators["lm_head"], len(g.batch_sizes)
        )
        ops["attn_prefill"] = _seconds_table(
            "operators.attn_prefill", self.operators["attn_prefill"], len(g.new_tokens),
            len(g.context_lengths),
        )
        ops["attn_decode"] = _seconds_table(
            "operators.attn_decode", self.operators["attn_decode"], len(g.batch_sizes),
            len(g.context_lengths),
        )
        object.__setattr__(self, "operators", ops)
        for name in ("warmup", "repeats"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name == "repeats" else 0):
                raise ConfigError(f"profile {name} must be a non-negative integer, got {v!r}")

    # --- JSON -------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The profile as a JSON object (``format``, ``version`` first)."""
        return {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "model": self.model,
            "tp": self.tp,
            "device": self.device,
            "dtype": self.dtype,
            "torch": self.torch_version,
            "timing": {"method": self.timing, "warmup": self.warmup, "repeats": self.repeats,
                       "statistic": "median"},
            "shapes": self.shapes.as_dict(),
            "grid": {
                "batch_sizes": list(self.grid.batch_sizes),
                "new_tokens": list(self.grid.new_tokens),
                "context_lengths": list(self.grid.context_lengths),
                "tokens": list(self.grid.tokens),
            },
            "operators": {
                op: [list(r) if isinstance(r, tuple) else r for r in self.operators[op]]
                for op in OPERATORS
            },
            "meta": dict(self.meta),
        }

    @classmethod
    def from_json(cls, obj: object) -> Profile:
        """Read :meth:`to_json`'s object back, checking every field.

        Raises
        ------
        ConfigError
            On a wrong format or version, a missing or malformed field.

        Examples
        --------
        >>> from sagacore.engine.profile import Profile
        >>> Profile.from_json({"format": "sagacore-profile", "version": 99})
        Traceback (most recent call last):
        ...
        sagacore.errors.ConfigError: profile version 99 is not supported (this sagacore reads version 1)
        """
        if not isinstance(obj, dict):
            raise ConfigError(f"a profile must be a JSON object, got {type(obj).__name__}")
        if obj.get("format") != PROFILE_FORMAT:
            raise ConfigError(
                f"not a profile: format must be {PROFILE_FORMAT!r}, got {obj.get('format')!r}"
            )
        if obj.get("version") != PROFILE_VERSION:
            raise ConfigError(
                f"profile version {obj.get('version')!r} is not supported "
                f"(this sagacore reads version {PROFILE_VERSION})"
            )
        try:
            timing, shapes, grid = obj["timing"], obj["shapes"], obj["grid"]
            if not all(isinstance(x, dict) for x in (timing, shapes, grid, obj["operators"])):
                raise ConfigError("profile timing, shapes, grid and operators must be objects")
            sh = {k: shapes[k] for k in LayerShapes.__dataclass_fields__}
            for k, v in sh.items():
                positive_int(f"profile shapes.{k}", v)
            g = ProfileGrid(
                tuple(grid["batch_sizes"]), tuple(grid["new_tokens"]),
                tuple(grid["context_lengths"]),
            )
            if "tokens" in grid and list(grid["tokens"]) != list(g.tokens):
                raise ConfigError(
                    f"profile grid.tokens must be {list(g.tokens)!r}, got {grid['tokens']!r}"
                )
            meta = obj.get("meta", {})
            if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
                raise ConfigError(f"profile meta must map names to strings, got {meta!r}")
            for k in ("device", "dtype", "torch"):
                if not isinstance(obj[k], str):
                    raise ConfigError(f"profile {k} must be a string, got {obj[k]!r}")
            return cls(
                model=obj["model"],
                tp=obj["tp"],
                shapes=LayerShapes(**sh),
                grid=g,
                operators=obj["operators"],
                device=obj["device"],
                dtype=obj["dtype"],
                timing=str(timing["method"]),
                warmup=timing["warmup"],
                repeats=timing["repeats"],
                torch_version=obj["torch"],
                meta=meta,
            )
        except KeyError as e:
            raise ConfigError(f"profile is missing the field {e.args[0]!r}") from None
        except TypeError as e:
            raise ConfigError(f"profile is malformed: {e}") from None

    def save(self, path: str | Path) -> None:
        """Write the profile as indented JSON."""
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def from_roofline(cls, cost: CostModel, grid: ProfileGrid) -> Profile:
        """A synthetic profile holding the roofline's own operator times (for tests, docs)."""
        ops: dict[str, Any] = {}
        for op in ("qkv", "o_proj", "mlp", "norms"):
            ops[op] = tuple(roofline_operator_seconds(cost, op, t) for t in grid.tokens)
        ops["lm_head"] = tuple(
            roofline_operator_seconds(cost, "lm_head", b) for b in grid.batch_sizes
        )
        for op, rows in (("attn_prefill", grid.new_tokens), ("attn_decode", grid.batch_sizes)):
            ops[op] = tuple(
                tuple(roofline_operator_seconds(cost, op, r, c) for c in grid.context_lengths)
                for r in rows
            )
        return cls(cost.model.name, cost.tp, layer_shapes(cost.model, cost.tp), grid, ops,
                   device="roofline", dtype="bfloat16", timing="none")


def load_profile(path: str | Path) -> Profile:
    """Read a profile file; an unreadable or malformed file raises :class:`ConfigError`
    (``PATH: ...`` naming the field)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read profile {str(path)!r}: {e.strerror}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"profile {str(path)!r} is not JSON: {e}") from None
    try:
        return Profile.from_json(obj)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


# --- the roofline's price of each operator ------------------------------------------------


def roofline_operator_seconds(
    cost: CostModel, op: str, rows: float, context: float = 0
) -> float:
    """What the roofline charges one layer's `op` on one GPU (:meth:`CostModel.kernel_seconds`).

    GEMMs: ``2 * rows * params`` FLOPs and their weights' bytes (as the step's linear
    term); attention: the (query, key) pairs' FLOPs and the KV read and written (as the
    step's attention term), for ``attn_prefill`` one chunk of `rows` tokens after `context`
    cached ones, for ``attn_decode`` `rows` sequences of `context` cached tokens each;
    ``norms`` 0 (the roofline does not price them).

    Examples
    --------
    >>> from sagacore.engine import CostModel
    >>> from sagacore.engine.profile import roofline_operator_seconds
    >>> cost = CostModel.from_presets("llama-3-8b", "h100-80gb")
    >>> roofline_operator_seconds(cost, "norms", 64)
    0.0
    >>> roofline_operator_seconds(cost, "mlp", 64) > roofline_operator_seconds(cost, "qkv", 64)
    True
    """
    s = layer_shapes(cost.model, cost.tp)
    b = cost.model.dtype_bytes
    h, hd = s.hidden_size, s.head_dim
    params = {
        "qkv": h * (s.heads + 2 * s.kv_heads) * hd,
        "o_proj": s.heads * hd * h,
        "mlp": 3 * h * s.intermediate,
        "norms": 0,
        "lm_head": s.vocab * h,
    }
    if op in params:
        return cost.kernel_seconds(2 * rows * params[op], params[op] * b)
    kv_token = 2 * s.kv_heads * hd * cost.model.kv_dtype_bytes
    per_pair = 4 * s.heads * hd
    if op == "attn_prefill":
        pairs = attention_pairs(rows, context)
        return cost.kernel_seconds(per_pair * pairs, kv_token * (context + rows))
    if op == "attn_decode":
        return cost.kernel_seconds(per_pair * rows * (context + 1), kv_token * rows * (context + 1))
    raise ConfigError(f"unknown operator {op!r}; known: {', '.join(OPERATORS)}")


# --- a cost model that uses the profile where it covers a step ----------------------------


def _segment(xs: Sequence[int], x: float) -> tuple[int, float] | None:
    """``(i, w)`` with ``x = xs[i] + w * (xs[i + 1] - xs[i])``, ``0 <= w < 1``; None
    outside ``[xs[0], xs[-1]]`` (``w == 0`` exactly at a grid point)."""
    if not xs[0] <= x <= xs[-1]:
        return None
    i = bisect.bisect_left(xs, x)
    if xs[i] == x:
        return i, 0.0
    return i - 1, (x - xs[i - 1]) / (xs[i] - xs[i - 1])


def _at(ys: Sequence[float], seg: tuple[int, float]) -> float:
    """Piecewise-linear ``ys`` at the point `seg` locates (exact at grid points)."""
    i, w = seg
    return ys[i] if w == 0.0 else ys[i] + w * (ys[i + 1] - ys[i])


def _line(cs: Sequence[int], ys: Sequence[float], keys: float) -> tuple[float, float]:
    """``(a, b)``: the line ``a + b c`` through the times `ys` at contexts `cs`.

    Least squares on relative error (weights ``1 / y**2``; plain least squares when a
    time is 0), kept non-negative: a falling fit becomes flat at the weighted mean, one
    with a negative intercept goes through the origin. With one context the time is
    taken proportional to the keys read, ``c + keys``.
    """
    if len(cs) == 1:
        per_key = ys[0] / (cs[0] + keys)
        return per_key * keys, per_key
    ws = [1 / (y * y) for y in ys] if all(y > 0 for y in ys) else [1.0] * len(ys)
    sw = sum(ws)
    sx = sum(w * c for w, c in zip(ws, cs, strict=True))
    sy = sum(w * y for w, y in zip(ws, ys, strict=True))
    sxx = sum(w * c * c for w, c in zip(ws, cs, strict=True))
    sxy = sum(w * c * y for w, c, y in zip(ws, cs, ys, strict=True))
    b = (sw * sxy - sx * sy) / (sw * sxx - sx * sx)
    a = (sy - b * sx) / sw
    if b < 0:
        return sy / sw, 0.0
    if a < 0:
        return 0.0, sxy / sxx
    return a, b


def _device_fits(device: str, gpu: str) -> bool:
    """Whether times measured on `device` may stand for a GPU of preset name `gpu`.

    A CUDA device must carry every dash-separated part of the preset's name
    (``a100-80gb``: ``A100`` and ``80GB``, as in ``NVIDIA A100-SXM4-80GB``); a profile
    measured elsewhere (``cpu``) or synthetic (``roofline``) measures no GPU and is taken
    for any (an example of the mechanism, not a GPU's figures).
    """
    if not device.startswith("cuda"):
        return True
    name = device.upper()
    return all(part.upper() in name for part in gpu.split("-"))


@dataclass(frozen=True)
class MeasuredCostModel(CostModel):
    """A :class:`CostModel` whose steps cost what a :class:`Profile` measured, where it can.

    Build one with :meth:`from_profile` (or :func:`with_profile`, which also reads a
    file); it is a :class:`CostModel` in every other respect (KV capacity, swaps,
    migrations, validation), so anything that takes a cost model, the simulator included,
    prices its steps with the profile unchanged.

    A step of ``T = P + D`` tokens (``P`` prefill tokens after ``C_p`` cached ones,
    ``D`` decoding sequences holding ``C_d`` cached tokens) is *covered* when ``T`` lies
    within ``grid.tokens``, ``D`` (if any) within ``grid.batch_sizes`` and ``P`` (if
    any) within ``grid.new_tokens``; contexts are not limited. A covered step costs the
    roofline's overhead and all-reduces plus, for every layer, ``qkv + o_proj + mlp +
    norms`` at ``T`` and the LM head at ``D`` (the linear term, interpolated
    piecewise-linearly between grid points) and attention (the attention term): per
    grid row (a batch size, a chunk size) the measured times are fitted with a line in
    the context, ``a + b c`` (least squares on relative error, kept non-negative;
    attention's work grows linearly with the context it reads), and ``a`` and ``b`` are
    interpolated between rows. Decode attention is ``a(D) + b(D) C_d / D`` (a ragged
    batch at its mean context), so a decode step is affine in ``C_d`` and decode runs
    have the closed form the simulator needs (:meth:`decode_cost_coefficients`); prefill
    attention is ``a(P) + b(P) C_p``, scaled by ``prefill_attention_pairs /
    attention_pairs(P, C_p)`` when a step holds several chunks. Any other step costs
    exactly what the roofline says.

    Examples
    --------
    >>> from sagacore.engine import CostModel
    >>> from sagacore.engine.profile import MeasuredCostModel, Profile, ProfileGrid
    >>> roof = CostModel.from_presets("llama-3-8b", "h100-80gb")
    >>> prof = Profile.from_roofline(roof, ProfileGrid((1, 8), (16, 64), (0, 512)))
    >>> m = MeasuredCostModel.from_profile(roof, prof)
    >>> isinstance(m, CostModel), m.covers(decode_seqs=4, decode_context_tokens=4 * 9000)
    (True, True)
    >>> a, b = m.decode_cost_coefficients(4)
    >>> abs(m.decode_step_seconds(4, 4000) - (a + b * 4000)) < 1e-15
    True
    >>> m.step_seconds(decode_seqs=64) == roof.step_seconds(decode_seqs=64)  # beyond the grid
    True
    """

    profile: Profile = field(kw_only=True, hash=False)
    """The measured operator times; its model, slice and device must be this model's."""

    def __post_init__(self) -> None:
        super().__post_init__()
        prof = self.profile
        if not isinstance(prof, Profile):
            raise ConfigError(f"MeasuredCostModel.profile must be a Profile, got {prof!r}")
        m = self.model
        if prof.model != m.name:
            raise ConfigError(
                f"profile field 'model' is {prof.model!r}, but the cost model serves {m.name}"
            )
        if prof.tp != self.tp:
            raise ConfigError(
                f"profile field 'tp' is {prof.tp}, but the cost model has tp={self.tp}"
            )
        want = layer_shapes(m, self.tp)
        if prof.shapes != want:
            raise ConfigError(
                f"profile field 'shapes' is {prof.shapes.as_dict()}, but {m.name} at "
                f"tp={self.tp} has {want.as_dict()}"
            )
        if not _device_fits(prof.device, self.gpu.name):
            raise ConfigError(
                f"profile field 'device' is {prof.device!r}, not a GPU of type {self.gpu.name}"
            )

    @classmethod
    def from_profile(cls, cost: CostModel, profile: Profile) -> MeasuredCostModel:
        """`cost` (its parameters; any subclass's pricing is dropped) priced by `profile`.

        Raises
        ------
        ConfigError
            If the profile's model, tensor-parallel slice or device is not `cost`'s,
            naming the field.
        """
        return cls(**{f.name: getattr(cost, f.name) for f in fields(CostModel)}, profile=profile)

    @property
    def roofline(self) -> CostModel:
        """The same instance priced by the roofline alone."""
        return CostModel(**{f.name: getattr(self, f.name) for f in fields(CostModel)})

    @cached_property
    def _tables(self) -> tuple[tuple[float, ...], ...]:
        """Per grid row: ``qkv + o_proj + mlp + norms`` (tokens), ``lm_head``, the
        decode lines' ``a`` and ``b`` (batch sizes), the prefill lines' (chunk sizes)."""
        prof, g = self.profile, self.profile.grid
        ops: Any = prof.operators
        linear = tuple(sum(ops[op][i] for op in ("qkv", "o_proj", "mlp", "norms"))
                       for i in range(len(g.tokens)))
        dec = [_line(g.context_lengths, row, 1) for row in ops["attn_decode"]]
        pre = [_line(g.context_lengths, row, n)
               for n, row in zip(g.new_tokens, ops["attn_prefill"], strict=True)]
        return (linear, tuple(ops["lm_head"]), tuple(a for a, _ in dec),
                tuple(b for _, b in dec), tuple(a for a, _ in pre), tuple(b for _, b in pre))

    def attention_line(self, op: str, rows: float) -> tuple[float, float] | None:
        """``(a, b)``: one layer's `op` (``attn_decode``: `rows` sequences;
        ``attn_prefill``: a chunk of `rows` tokens) takes ``a + b c`` seconds at `c` cached
        tokens (each); None outside the grid's rows."""
        if op not in ("attn_decode", "attn_prefill"):
            raise ConfigError(f"attention_line takes attn_decode or attn_prefill, got {op!r}")
        g = self.profile.grid
        _, _, da, db, pa, pb = self._tables
        xs, a, b = (g.batch_sizes, da, db) if op == "attn_decode" else (g.new_tokens, pa, pb)
        seg = _segment(xs, rows)
        return None if seg is None else (_at(a, seg), _at(b, seg))

    def _measured(
        self, p: float, cp: float, d: float, cd: float, q: float | None
    ) -> tuple[float, float] | None:
        """The linear and attention terms of a covered step; None if not covered."""
        g = self.profile.grid
        linear, lm, da, db, pa, pb = self._tables
        layers = self.model.num_layers
        seg = _segment(g.tokens, p + d)
        if seg is None:
            return None
        lin = layers * _at(linear, seg)
        attention = 0.0
        if d > 0:
            seg = _segment(g.batch_sizes, d)
            if seg is None:
                return None
            lin += _at(lm, seg)
            attention = _at(da, seg) + _at(db, seg) * cd / d
        if p > 0:
            seg = _segment(g.new_tokens, p)
            if seg is None:
                return None
            pre = _at(pa, seg) + _at(pb, seg) * cp
            if q is not None:
                pre *= q / (p * cp + p * (p + 1) / 2)
            attention += pre
        return lin, layers * attention

    def covers(
        self,
        prefill_tokens: float = 0,
        prefill_context_tokens: float = 0,
        decode_seqs: float = 0,
        decode_context_tokens: float = 0,
    ) -> bool:
        """Whether the profile prices this step (an empty step is covered: it costs 0)."""
        p, d = float(prefill_tokens), float(decode_seqs)
        if p + d == 0:
            return True
        return (
            self._measured(p, float(prefill_context_tokens), d, float(decode_context_tokens), None)
            is not None
        )

    def step_breakdown(
        self,
        prefill_tokens: float = 0,
        prefill_context_tokens: float = 0,
        decode_seqs: float = 0,
        decode_context_tokens: float = 0,
        *,
        prefill_attention_pairs: float | None = None,
    ) -> StepBreakdown:
        """:meth:`CostModel.step_breakdown` with the measured terms where covered."""
        base = super().step_breakdown(
            prefill_tokens, prefill_context_tokens, decode_seqs, decode_context_tokens,
            prefill_attention_pairs=prefill_attention_pairs,
        )
        if base.total_s == 0.0:
            return base
        got = self._measured(
            float(prefill_tokens), float(prefill_context_tokens), float(decode_seqs),
            float(decode_context_tokens),
            None if prefill_attention_pairs is None else float(prefill_attention_pairs),
        )
        if got is None:
            return base
        return StepBreakdown(base.overhead_s, got[0], got[1], base.communication_s)

    def step_seconds_trusted(
        self, prefill_tokens: int, prefill_context_tokens: int, decode_seqs: int,
        decode_context_tokens: int, prefill_attention_pairs: float,
    ) -> float:
        """:meth:`step_seconds` without checks (the simulator's inner loop), as the base's."""
        got = self._measured(prefill_tokens, prefill_context_tokens, decode_seqs,
                             decode_context_tokens, prefill_attention_pairs)
        if got is None:
            return super().step_seconds_trusted(
                prefill_tokens, prefill_context_tokens, decode_seqs, decode_context_tokens,
                prefill_attention_pairs,
            )
        comm_fixed, comm_tok = self._coefficients[5], self._coefficients[6]
        return (self.step_overhead_s + got[0] + got[1]
                + (comm_fixed + comm_tok * (prefill_tokens + decode_seqs)))

    def decode_cost_coefficients(self, batch_size: float) -> tuple[float, float]:
        """``(intercept, slope)`` of a decode step's time in its total context.

        Measured when the profile covers `batch_size` sequences (any context), else the
        roofline's; exact either way, so :meth:`decode_steps_seconds` and
        :meth:`decode_steps_within` sum and invert decode runs as for the roofline.
        """
        d = positive("batch_size", batch_size, zero_ok=True)
        got = self._measured(0.0, 0.0, d, 0.0, None) if d > 0 else None
        if got is None:
            return super().decode_cost_coefficients(d)
        seg = _segment(self.profile.grid.batch_sizes, d)
        assert seg is not None  # covered
        slope = self.model.num_layers * (_at(self._tables[3], seg) / d)
        comm_fixed, comm_tok = self._coefficients[5], self._coefficients[6]
        return self.step_overhead_s + got[0] + got[1] + (comm_fixed + comm_tok * d), slope


def with_profile(cost: CostModel, profile: Profile | str | Path) -> MeasuredCostModel:
    """`cost` priced by `profile` (a :class:`Profile` or a profile file's path).

    The one way the CLI and :meth:`~sagacore.sim.config.ClusterConfig.from_gpus` build a
    measured cost model: an error names the file and the field.

    Raises
    ------
    ConfigError
        ``PATH: ...`` for a file that cannot be read, is malformed, or whose model,
        tensor-parallel slice or device is not `cost`'s.

    Examples
    --------
    >>> from sagacore.engine import CostModel
    >>> from sagacore.engine.profile import Profile, ProfileGrid, with_profile
    >>> prof = Profile.from_roofline(CostModel.from_presets("llama-3-8b", "h100-80gb"),
    ...                              ProfileGrid((1, 8), (16,), (0, 512)))
    >>> with_profile(CostModel.from_presets("llama-3-70b", "h100-80gb", tp=4), prof)
    Traceback (most recent call last):
    ...
    sagacore.errors.ConfigError: profile field 'model' is 'llama-3-8b', but the cost model serves llama-3-70b
    """
    if isinstance(profile, Profile):
        return MeasuredCostModel.from_profile(cost, profile)
    prof = load_profile(profile)
    try:
        return MeasuredCostModel.from_profile(cost, prof)
    except ConfigError as e:
        raise ConfigError(f"{profile}: {e}") from None


def _matmul(a: Any, w: Any) -> Callable[[], object]:
    """A closure computing ``a @ w`` (a GEMM to time)."""

    def run() -> object:
        return a @ w

    return run


def _rel(model: float, measured: float) -> float | None:
    return None if measured <= 0 else model / measured - 1


def profile_errors(cost: CostModel, profile: Profile) -> dict[str, Any]:
    """The roofline's relative error against `profile`, per operator and per step.

    For every operator, over its grid points, the median, min and max of
    ``roofline / measured - 1`` (``norms``: -1, the roofline prices them at 0); for the
    steps of the grid (a prefill of each chunk size after each context, a decode step of
    each batch size at each context), the same of :meth:`CostModel.step_seconds` against
    :meth:`MeasuredCostModel.step_seconds`. Under ``fit``, how far the measured model's
    attention lines (:meth:`MeasuredCostModel.attention_line`) are from the times they
    fit, ``line / measured - 1`` at each grid point.

    Examples
    --------
    >>> from sagacore.engine import CostModel
    >>> from sagacore.engine.profile import Profile, ProfileGrid, profile_errors
    >>> cost = CostModel.from_presets("llama-3-8b", "h100-80gb")
    >>> prof = Profile.from_roofline(cost, ProfileGrid((1, 8), (16,), (0, 256)))
    >>> profile_errors(cost, prof)["operators"]["mlp"]["median"]
    0.0
    """
    if isinstance(cost, MeasuredCostModel):
        cost = cost.roofline
    measured = MeasuredCostModel.from_profile(cost, profile)
    g = profile.grid
    pairs: dict[str, list[tuple[float, float]]] = {op: [] for op in OPERATORS}
    for i, t in enumerate(g.tokens):
        for op in ("qkv", "o_proj", "mlp", "norms"):
            pairs[op].append((roofline_operator_seconds(cost, op, t), profile.operators[op][i]))  # type: ignore[arg-type]
    for i, b in enumerate(g.batch_sizes):
        pairs["lm_head"].append(
            (roofline_operator_seconds(cost, "lm_head", b), profile.operators["lm_head"][i])  # type: ignore[arg-type]
        )
    for op, rows in (("attn_prefill", g.new_tokens), ("attn_decode", g.batch_sizes)):
        for i, r in enumerate(rows):
            for j, c in enumerate(g.context_lengths):
                pairs[op].append(
                    (roofline_operator_seconds(cost, op, r, c), profile.operators[op][i][j])  # type: ignore[index]
                )
    steps: dict[str, list[tuple[float, float]]] = {"prefill": [], "decode": []}
    for c in g.context_lengths:
        for n in g.new_tokens:
            steps["prefill"].append((cost.prefill_seconds(n, c), measured.prefill_seconds(n, c)))
        for b in g.batch_sizes:
            steps["decode"].append(
                (cost.decode_step_seconds(b, b * c), measured.decode_step_seconds(b, b * c))
            )
    fit: dict[str, list[tuple[float, float]]] = {"attn_prefill": [], "attn_decode": []}
    for op, rows in (("attn_prefill", g.new_tokens), ("attn_decode", g.batch_sizes)):
        for i, r in enumerate(rows):
            line = measured.attention_line(op, r)
            assert line is not None  # a grid row
            for j, c in enumerate(g.context_lengths):
                fit[op].append((line[0] + line[1] * c, profile.operators[op][i][j]))  # type: ignore[index]

    def summary(rows: list[tuple[float, float]]) -> dict[str, float | int | None]:
        errs = [e for e in (_rel(m, x) for m, x in rows) if e is not None]
        if not errs:
            return {"points": len(rows), "median": None, "min": None, "max": None}
        return {"points": len(rows), "median": statistics.median(errs), "min": min(errs),
                "max": max(errs)}

    return {
        "operators": {op: summary(pairs[op]) for op in OPERATORS},
        "steps": {k: summary(v) for k, v in steps.items()},
        "fit": {k: summary(v) for k, v in fit.items()},
    }


# --- the profiler (torch) -----------------------------------------------------------------


def run_profile(
    model: ModelSpec,
    tp: int,
    grid: ProfileGrid,
    *,
    device: str | None = None,
    warmup: int = 3,
    repeats: int = 10,
    progress: Callable[[int, int], None] | None = None,
    meta: Mapping[str, str] | None = None,
) -> Profile:
    """Time one decoder layer's operators of `model` at its `tp` slice over `grid`.

    Uses torch (the ``torch`` extra) on `device` (default: ``cuda`` when torch sees a
    GPU, else ``cpu``), in bfloat16 on a GPU and float32 on a CPU. On a GPU each shape
    is timed with CUDA events around each of `repeats` runs after `warmup` untimed ones;
    on a CPU with :func:`time.perf_counter`; the median is kept. Weights and KV are
    random (times do not depend on values). Attention is PyTorch's
    ``scaled_dot_product_attention`` with grouped-query heads: a prefill chunk attends to
    its cached prefix and causally to itself (a lower-right causal mask); a decode batch
    is `b` sequences of the same cached length, one query each.

    Raises
    ------
    ConfigError
        If torch is not installed, `tp` does not split the model, or an argument is bad.
    """
    positive_int("warmup", warmup, zero_ok=True)
    positive_int("repeats", repeats)
    s = layer_shapes(model, tp)
    try:
        import torch  # type: ignore[import-not-found, unused-ignore]
        import torch.nn.functional as F  # type: ignore[import-not-found, unused-ignore]
        from torch.nn.attention.bias import (  # type: ignore[import-not-found, unused-ignore]
            causal_lower_right,
        )
    except ImportError:
        raise ConfigError(
            "profiling needs torch: pip install 'sagacore[torch]'"
        ) from None
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {dev!r} requested but torch sees no GPU")
    on_gpu = dev.startswith("cuda")
    dtype = torch.bfloat16 if on_gpu else torch.float32
    gen = torch.Generator(device=dev).manual_seed(0)

    def rand(*shape: int) -> Any:  # drawn on the device: the largest KV is gigabytes
        return torch.randn(*shape, generator=gen, device=dev, dtype=dtype) * 0.02

    h, hd = s.hidden_size, s.head_dim
    w_qkv = rand(h, (s.heads + 2 * s.kv_heads) * hd)
    w_o = rand(s.heads * hd, h)
    w_gate_up = rand(h, 2 * s.intermediate)
    w_down = rand(s.intermediate, h)
    w_norm = rand(h) + 1
    w_lm = rand(h, s.vocab)

    def timed(fn: Callable[[], object]) -> float:
        with torch.inference_mode():
            for _ in range(warmup):
                fn()
            if on_gpu:
                torch.cuda.synchronize()
                times = []
                for _ in range(repeats):
                    start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call, unused-ignore]
                    end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call, unused-ignore]
                    start.record()
                    fn()
                    end.record()
                    end.synchronize()
                    times.append(start.elapsed_time(end) / 1e3)
            else:
                times = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    fn()
                    times.append(time.perf_counter() - t0)
        return float(statistics.median(times))

    def rms(x: Any) -> Any:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w_norm

    def norms(x: Any) -> Any:  # a layer's two RMSNorms (before attention and before the MLP)
        return rms(x), rms(x)

    total = (
        4 * len(grid.tokens) + len(grid.batch_sizes)
        + (len(grid.new_tokens) + len(grid.batch_sizes)) * len(grid.context_lengths)
    )
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    ops: dict[str, Any] = {op: [] for op in OPERATORS}
    for t in grid.tokens:
        x = rand(t, h)
        attn_out = rand(t, s.heads * hd)
        ops["qkv"].append(timed(_matmul(x, w_qkv)))
        tick()
        ops["o_proj"].append(timed(_matmul(attn_out, w_o)))
        tick()

        def mlp(x: Any = x) -> Any:
            gate, up = (x @ w_gate_up).chunk(2, dim=-1)
            return (F.silu(gate) * up) @ w_down

        ops["mlp"].append(timed(mlp))
        tick()
        ops["norms"].append(timed(partial(norms, x)))
        tick()
    for b in grid.batch_sizes:
        x = rand(b, h)
        ops["lm_head"].append(timed(_matmul(x, w_lm)))
        tick()
    expanded: list[str] = []

    def attention(q: Any, k: Any, v: Any, mask: Any) -> Callable[[], object]:
        """SDPA with grouped-query heads; if this torch/kernel refuses them, with KV
        expanded to every query head beforehand (noted in the profile's meta)."""
        fn = partial(F.scaled_dot_product_attention, q, k, v, attn_mask=mask, enable_gqa=True)
        try:
            with torch.inference_mode():
                fn()
        except RuntimeError as e:
            expanded.append(f"{tuple(q.shape)}: {str(e).splitlines()[0][:120]}")
            rep = s.heads // s.kv_heads
            fn = partial(F.scaled_dot_product_attention, q, k.repeat_interleave(rep, 1),
                         v.repeat_interleave(rep, 1), attn_mask=mask)
        return fn

    for n in grid.new_tokens:
        row = []
        for c in grid.context_lengths:
            q = rand(1, s.heads, n, hd)
            k = rand(1, s.kv_heads, c + n, hd)
            v = rand(1, s.kv_heads, c + n, hd)
            row.append(timed(attention(q, k, v, causal_lower_right(n, c + n))))
            tick()
        ops["attn_prefill"].append(row)
    for b in grid.batch_sizes:
        row = []
        for c in grid.context_lengths:
            q = rand(b, s.heads, 1, hd)
            k = rand(b, s.kv_heads, c + 1, hd)
            v = rand(b, s.kv_heads, c + 1, hd)
            row.append(timed(attention(q, k, v, None)))
            tick()
        ops["attn_decode"].append(row)
    name = torch.cuda.get_device_name(dev) if on_gpu else "cpu"
    return Profile(
        model=model.name,
        tp=tp,
        shapes=s,
        grid=grid,
        operators=ops,
        device=f"cuda: {name}" if on_gpu else "cpu",
        dtype=str(dtype).removeprefix("torch."),
        timing="cuda-events" if on_gpu else "perf-counter",
        warmup=warmup,
        repeats=repeats,
        torch_version=str(torch.__version__),
        meta={**(meta or {}),
              **({"attention_kv_expanded": "; ".join(expanded)} if expanded else {})},
    )
