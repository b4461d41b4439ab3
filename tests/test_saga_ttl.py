"""SAGA's tool-call TTL (sagacore.cache.saga_ttl): the formula, its settings, and the
policy asking the shared predictor for a tool's P95."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sagacore.cache.saga_ttl import SagaTTL, SagaTTLConfig, memory_pressure, saga_ttl_seconds
from sagacore.cache.walru import WALRU
from sagacore.errors import ConfigError
from sagacore.policy import CacheContext, Retention
from sagacore.workload.model import TaskId
from sagacore.workload.predictor import Predictor, PredictorConfig


@dataclass(frozen=True)
class Session:
    task_id: TaskId
    agent_type: str
    step: int
    tool: str
    context_tokens: int
    has_successor: bool


@pytest.mark.parametrize(
    ("p95", "used", "want"),
    [
        (10.0, 0.0, 10.0),
        (10.0, 0.7, 10.0),  # pressure starts at 0.7
        (10.0, 0.8, 7.5),
        (10.0, 0.9, 5.0),  # full pressure halves it
        (10.0, 1.0, 5.0),  # clipped at m = 1
        (10.0, 1.3, 5.0),
        (1000.0, 0.0, 300.0),  # capped
        (1000.0, 0.9, 300.0),
        (700.0, 0.9, 300.0),
        (400.0, 0.9, 200.0),
        (0.0, 0.95, 0.0),
        (math.inf, 0.5, 300.0),
    ],
)
def test_ttl_formula_edges(p95: float, used: float, want: float) -> None:
    assert saga_ttl_seconds(p95, used) == pytest.approx(want)


def test_ttl_rejects_bad_values_and_uses_fit() -> None:
    for bad in (-0.1, math.nan, math.inf):
        with pytest.raises(ConfigError, match=str(bad)):
            saga_ttl_seconds(1.0, bad)
    with pytest.raises(ConfigError, match="-1"):
        saga_ttl_seconds(-1.0, 0.5)
    assert memory_pressure(0.7) == 0.0 and memory_pressure(1.0) == 1.0
    p = Predictor(PredictorConfig(min_tool_samples=1))
    for v in [1.0, 2.0, 4.0, 8.0]:
        p.observe_tool_duration("bash", v)
    p95 = p.tool_duration_percentile("bash", 0.95)
    s = Session(TaskId("t"), "swe", 0, "bash", 10, True)
    for used, want in ((50, p95), (90, p95 / 2)):
        ctx = CacheContext(now=0.0, capacity_tokens=100, used_tokens=used, predictor=p)
        assert SagaTTL().retention(s, ctx).ttl_s == pytest.approx(want)


@given(
    st.floats(0, 1e6, allow_nan=False) | st.just(math.inf),
    st.floats(0, 2),
    st.floats(0, 2),
)
def test_ttl_bounded_and_monotone_in_pressure(p95: float, u1: float, u2: float) -> None:
    lo, hi = sorted((u1, u2))
    a, b = saga_ttl_seconds(p95, lo), saga_ttl_seconds(p95, hi)
    assert 0.0 <= a <= 300.0 and 0.0 <= b <= 300.0
    assert b <= a
    assert 0.0 <= memory_pressure(lo) <= memory_pressure(hi) <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "shown"),
    [
        ({"ttl_percentile": 1.0}, "1.0"),
        ({"max_ttl_s": math.nan}, "nan"),
        ({"pressure_span": 0.0}, "0.0"),
        ({"pressure_weight": 2.0}, "2.0"),
        ({"pressure_start": 1.5}, "1.5"),
    ],
)
def test_config_validation_shows_value(kwargs: dict[str, float], shown: str) -> None:
    with pytest.raises(ConfigError, match=shown):
        SagaTTLConfig(**kwargs)


def test_settings_shape_the_pin_and_eviction_is_walru() -> None:
    p = Predictor(PredictorConfig(min_tool_samples=1))
    for v in [1.0, 2.0, 4.0, 8.0]:
        p.observe_tool_duration("bash", v)
    s = Session(TaskId("t"), "swe", 0, "bash", 10, True)
    ctx = CacheContext(now=0.0, capacity_tokens=100, used_tokens=95, predictor=p)
    p50 = p.tool_duration_percentile("bash", 0.5)
    d = SagaTTL(SagaTTLConfig(ttl_percentile=0.5, pressure_weight=0.0)).retention(s, ctx)
    assert d.action is Retention.KEEP and d.ttl_s == pytest.approx(p50)
    assert SagaTTL(SagaTTLConfig(max_ttl_s=0.5)).retention(s, ctx).ttl_s == 0.5
    no_next = Session(TaskId("t"), "swe", 0, "bash", 10, False)
    assert SagaTTL().retention(no_next, ctx).ttl_s is None  # no successor: unpinned
    assert isinstance(SagaTTL().eviction, WALRU)


def test_the_predictor_s_old_names_still_answer_with_a_warning() -> None:
    import sagacore.workload.predictor as pred

    with pytest.warns(DeprecationWarning, match="sagacore.cache.saga_ttl"):
        assert pred.saga_ttl_seconds is saga_ttl_seconds  # type: ignore[attr-defined]
    p = Predictor()
    with pytest.warns(DeprecationWarning, match="Predictor.saga_ttl is deprecated"):
        old = p.saga_ttl("bash", 0.5)
    assert old == SagaTTLConfig().ttl(p.tool_duration_percentile("bash", 0.95), 0.5)
