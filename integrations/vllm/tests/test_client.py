"""Program metadata end to end: client helper -> vLLM's OpenAI protocol -> the plug-in.

The helper's ``extra_headers`` / ``extra_body`` go through vLLM 0.33's own request model
(``ChatCompletionRequest``, the ``X-Session-ID`` lookup of its serving layer), and what
comes out (``session_id`` and ``sampling_params.extra_args``) parses back to the same
metadata. Parsing never raises, whatever a client sends. They skip only when vLLM is not
importable.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("vllm")

from hypothesis import given
from hypothesis import strategies as st

from sagacore_vllm.client import DEFAULT_TOOL, ProgramMetadata


class _Raw:
    """What vLLM's serving layer reads of the HTTP request: its headers."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


def _through_vllm(meta: ProgramMetadata, *, headers: bool, body: bool) -> tuple[Any, Any]:
    from vllm.entrypoints.generate.base.serving import GenerateBaseServing
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest

    extra_body = meta.extra_body() if body else {"vllm_xargs": {
        k: v for k, v in meta.xargs().items() if k != "session_id"}}
    req = ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "hi"}],
                                max_tokens=8, **extra_body)
    raw = _Raw(meta.headers() if headers else {})
    session = GenerateBaseServing._get_session_id(req, raw)  # type: ignore[arg-type]
    params = req.to_sampling_params(8, {})
    return session, params.extra_args


@pytest.mark.parametrize(("headers", "body"), [(True, True), (True, False), (False, True)])
def test_metadata_reaches_the_scheduler_through_vllms_protocol(headers: bool, body: bool) -> None:
    meta = ProgramMetadata("task-7", step=4, tenant="acme", agent_type="swe",
                           tool="bash", last=False, parents=(3, 1), parent_tool_s=(0.25, 3.0))
    session, extra = _through_vllm(meta, headers=headers, body=body)
    assert session == "task-7"
    assert ProgramMetadata.parse("req-1", session, extra) == meta


def test_parents_are_the_clients_or_the_previous_step() -> None:
    join = ProgramMetadata.parse("r", "p", {"sagacore_step": 3, "sagacore_parents": [2, 0]})
    assert join.parents == (2, 0) and join.parents_of(3) == (2, 0)
    chain = ProgramMetadata.parse("r", "p", {"sagacore_step": 3})
    assert chain.parents is None and chain.parents_of(3) == (2,) and chain.parents_of(0) == ()
    root = ProgramMetadata.parse("r", "p", {"sagacore_step": 2, "sagacore_parents": []})
    assert root.parents_of(2) == ()
    timed = ProgramMetadata.parse("r", "p", {"sagacore_step": 3, "sagacore_parents": [2, 0],
                                             "sagacore_tool_s": [1.5, 0]})
    assert timed.parent_tool_s == (1.5, 0.0)
    # one duration per parent, finite and >= 0, and only with parents: else not measured
    for bad_s in ([1.0], [1.0, -1.0], [1.0, float("inf")], [1.0, "2"], 3.0):
        meta = ProgramMetadata.parse("r", "p", {"sagacore_step": 3, "sagacore_parents": [2, 0],
                                                "sagacore_tool_s": bad_s})
        assert meta.parents == (2, 0) and meta.parent_tool_s is None
    assert ProgramMetadata.parse("r", "p", {"sagacore_tool_s": [1.0]}).parent_tool_s is None
    with pytest.raises(ValueError, match="one duration per parent"):
        ProgramMetadata("p", parents=(0,), parent_tool_s=(1.0, 2.0))
    # not earlier steps, repeated, negative, not integers, not a list: the chain default
    for bad in ([3], [1, 1], [-1], ["0"], [True], 1, "0,1"):
        meta = ProgramMetadata.parse("r", "p", {"sagacore_step": 3, "sagacore_parents": bad})
        assert meta.parents is None and meta.parents_of(3) == (2,)


def test_a_request_without_metadata_is_a_program_of_one_call() -> None:
    meta = ProgramMetadata.parse("req-9", None, None)
    assert (meta.program_id, meta.last, meta.explicit, meta.tool) == ("req-9", True, False, None)


def test_a_named_program_without_a_tool_gets_the_default_tool_unless_last() -> None:
    assert ProgramMetadata.parse("r", "p", {}).tool == DEFAULT_TOOL
    assert ProgramMetadata.parse("r", "p", {"sagacore_last": 1}).tool is None
    assert ProgramMetadata.parse("r", "p", {"sagacore_tool": ""}).tool is None


def test_bad_values_fall_back_to_defaults() -> None:
    meta = ProgramMetadata.parse("r", "p", {"sagacore_step": -3, "sagacore_tenant": 5,
                                            "sagacore_last": [1], "sagacore_tool": 7})
    assert (meta.step, meta.tenant, meta.last, meta.tool) == (None, "default", False,
                                                              DEFAULT_TOOL)
    assert ProgramMetadata.parse("r", "p", {"sagacore_step": "12",
                                            "sagacore_last": "true"}).step == 12


_values = st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=5), st.booleans(),
                    st.floats(allow_nan=True), st.lists(st.integers(), max_size=2))


@given(
    session=st.one_of(st.none(), st.text(max_size=8)),
    extra=st.one_of(st.none(), st.dictionaries(
        st.sampled_from(["session_id", "sagacore_step", "sagacore_tenant",
                         "sagacore_agent_type", "sagacore_tool", "sagacore_last",
                         "sagacore_parents", "sagacore_tool_s", "x"]),
        _values, max_size=7)),
)
def test_parsing_never_raises(session: str | None, extra: dict[str, Any] | None) -> None:
    meta = ProgramMetadata.parse("req", session, extra)
    assert meta.program_id
    assert meta.step is None or meta.step >= 0
    assert isinstance(meta.tenant, str) and meta.tenant
    if not meta.explicit:
        assert meta.program_id == "req" and meta.last
    if meta.parents is not None:
        assert all(0 <= p < (meta.step if meta.step is not None else 1 << 62)
                   for p in meta.parents)
