"""``sagacore._values.quick_init``: the quicker ``__init__`` behaves as the dataclass's own."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from sagacore._values import quick_init
from sagacore.errors import ConfigError
from sagacore.policy import CacheContext


def _pair() -> tuple[type, type]:
    def make() -> type:
        @dataclasses.dataclass(frozen=True, slots=True)
        class V:
            a: int
            b: float = 2.0
            c: str = "x"

            def __post_init__(self) -> None:
                if self.a < 0:
                    raise ConfigError(f"a must be >= 0, got {self.a}")

        return V

    return make(), quick_init(make())


def test_same_signature_values_and_checks() -> None:
    plain, quick = _pair()
    assert inspect.signature(quick.__init__) == inspect.signature(plain.__init__)
    for args, kwargs in (((1,), {}), ((1, 3.0), {}), ((1,), {"c": "y"}), ((), {"a": 4, "b": 0.5})):
        p, q = plain(*args, **kwargs), quick(*args, **kwargs)
        assert dataclasses.astuple(p) == dataclasses.astuple(q)
        assert repr(q) == repr(p).replace(plain.__qualname__, quick.__qualname__)
        assert q == quick(*args, **kwargs) and hash(q) == hash(quick(*args, **kwargs))
        with pytest.raises(dataclasses.FrozenInstanceError):
            q.a = 9
        assert dataclasses.replace(q, c="z").c == "z"
    for bad in ((), (1, 2.0, "x", 4)):
        with pytest.raises(TypeError):
            quick(*bad)
    with pytest.raises(TypeError):
        quick(1, d=2)
    with pytest.raises(ConfigError, match="a must be >= 0, got -1"):  # __post_init__ runs
        quick(-1)


def test_refuses_what_it_cannot_build() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Factory:
        a: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True, slots=True)
    class KwOnly:
        a: int = dataclasses.field(kw_only=True)

    for cls in (NoSlots, Factory, KwOnly):
        with pytest.raises(TypeError):
            quick_init(cls)


def test_the_policy_values_keep_their_checks() -> None:
    ctx = CacheContext(now=1.0, capacity_tokens=10, used_tokens=3)
    assert (ctx.now, ctx.capacity_tokens, ctx.used_tokens) == (1.0, 10, 3)
    assert ctx == CacheContext(1.0, 10, 3)
