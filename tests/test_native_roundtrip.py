"""The native format round-trips exactly and matches its JSON Schema.

Workloads are drawn at random: chains and DAGs (a node order plus forward edges),
prompts that inherit a prefix of an earlier step's context, segments shared across
tasks, tools, observations, tenants, and any text in names and ids.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sagacore.errors import TraceFormatError
from sagacore.workload.model import Segment, Step, Task, TaskId, Tenant, TenantId, Workload
from sagacore.workload.native import dumps, loads, read_native, write_native

DOCS = Path(__file__).resolve().parent.parent / "docs"

ids = st.integers(-(2**63), 2**63 - 1)
seconds = st.floats(min_value=0, max_value=1e9, allow_nan=False) | st.sampled_from(
    [0.0, -0.0, 5e-324]
)
# A small pool of segments that tasks share (equal ids always hold equal tokens).
# Every segment's tokens are a function of its id, as the format requires.
def _tokens(i: int) -> int:
    return 1 + (i * 37) % 500 if -3 <= i < 12 else 1 + abs(i) % 10**12


POOL = [Segment(i, _tokens(i)) for i in range(-3, 12)]
segments = st.sampled_from(POOL) | st.builds(lambda i: Segment(i, _tokens(i)), ids)
names = st.text(min_size=1, max_size=6)


@st.composite
def tasks(draw: st.DrawFn, task_id: str, tenants: list[str]) -> Task:
    n = draw(st.integers(1, 7))
    chain = draw(st.booleans())
    steps: list[Step] = []
    for i in range(n):
        if chain:
            deps: tuple[int, ...] = (i - 1,) if i else ()
        else:
            deps = (
                tuple(sorted(draw(st.sets(st.integers(0, i - 1), max_size=min(3, i))))) if i else ()
            )
        prompt: list[Segment] = []
        if i and draw(st.booleans()):  # inherit a prefix of an earlier step's context
            from_dep = bool(deps) and draw(st.booleans())
            j = draw(st.sampled_from(deps)) if from_dep else draw(st.integers(0, i - 1))
            ctx = steps[j].context
            prompt.extend(ctx[: draw(st.integers(1, len(ctx)))])
        prompt.extend(draw(st.lists(segments, min_size=0 if prompt else 1, max_size=3)))
        tool = draw(st.none() | st.sampled_from(["bash", "search"]) | st.text(max_size=4))
        output_id = draw(st.sampled_from([s.id for s in POOL]) | ids)
        steps.append(
            Step(
                index=i,
                prompt=tuple(prompt),
                output_tokens=_tokens(output_id),
                output_id=output_id,
                tool=tool,
                tool_seconds=draw(seconds) if tool is not None else 0.0,
                deps=deps,
                observed_llm_seconds=draw(st.none() | seconds),
                observed_cached_tokens=draw(st.none() | st.integers(0, 10**9)),
            )
        )
    return Task(
        TaskId(task_id),
        tuple(steps),
        TenantId(draw(st.sampled_from(tenants))),
        draw(seconds),
        draw(st.text(max_size=5)),
    )


@st.composite
def workloads(draw: st.DrawFn) -> Workload:
    tenant_ids = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    declared = draw(st.lists(st.sampled_from(tenant_ids), unique=True))
    tenants = [
        Tenant(
            TenantId(t),
            draw(st.floats(min_value=1e-6, max_value=1e6)),
            draw(st.floats(min_value=1, max_value=100)),
        )
        for t in declared
    ]
    task_ids = draw(st.lists(names, min_size=0, max_size=4, unique=True))
    return Workload(
        tuple(draw(tasks(t, tenant_ids)) for t in task_ids),
        tuple(tenants),
        draw(st.text(max_size=8)),
        draw(st.text(max_size=8)),
    )


@cache
def _validator(definition: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((DOCS / "native-format.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    sub = {**schema, "$ref": f"#/$defs/{definition}"}
    del sub["anyOf"]
    return jsonschema.Draft202012Validator(sub)


def validate_lines(text: str) -> None:
    """Line 1 against the header schema, every other line against the task schema."""
    lines = text.split("\n")[:-1]  # the writer ends lines with \n only; str.splitlines
    # would also split at U+2028 and friends, which JSON strings may hold raw
    _validator("header").validate(json.loads(lines[0]))
    for line in lines[1:]:
        _validator("task").validate(json.loads(line))


@given(workloads())
def test_read_write_read_is_identity(w: Workload) -> None:
    text = dumps(w)
    back = loads(text)
    assert back == w
    assert [t.tenant for t in back] == [t.tenant for t in w]
    assert dumps(back) == text  # canonical: byte for byte


@given(workloads())
def test_written_files_validate_against_schema(w: Workload) -> None:
    validate_lines(dumps(w))


@given(workloads())
def test_file_round_trip(w: Workload) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "w.jsonl"
        write_native(w, path)
        assert path.read_bytes() == dumps(w).encode("utf-8")
        assert read_native(path) == w


def test_line_separators_inside_strings_survive(tmp_path: Path) -> None:
    odd = "a\u2028b\u2029c\x85d\x0be\x1cf"
    step = Step(0, (Segment(1, 5),), 1, 2, tool=odd, tool_seconds=1.0)
    w = Workload((Task(TaskId(odd), (step,), TenantId(odd), 0.0, odd),), name=odd, source=odd)
    assert loads(dumps(w)) == w


def test_prefix_points_at_best_dependency() -> None:
    s0 = Step(0, (Segment(1, 10),), 1, 2)
    s1 = Step(1, (Segment(1, 10), Segment(3, 4)), 1, 4, deps=(0,))
    s2 = Step(2, (*s1.context, Segment(5, 1)), 1, 6, deps=(0, 1))
    line = json.loads(dumps(Workload((Task(TaskId("t"), (s0, s1, s2)),))).splitlines()[1])
    assert [s.get("prefix") for s in line["steps"]] == [None, [0, 1], [1, 3]]
    assert line["steps"][2]["append"] == [[5, 1]]


def test_doc_example_is_valid_and_reads() -> None:
    text = (DOCS / "native-format.md").read_text()
    example = re.search(r"```json\n(.*?)```", text, re.S)
    assert example is not None
    body = example.group(1)
    validate_lines(body)
    w = loads(body)
    assert dumps(w) == body  # the example is in canonical form
    assert (len(w), w.llm_calls, w.tool_calls) == (2, 4, 2)


@pytest.mark.parametrize(
    ("line", "definition"),
    [
        ({"format": "sagacore-workload", "version": 2}, "header"),
        ({"format": "other", "version": 1}, "header"),
        ({"id": "t", "tenant": "x", "arrival_s": -1, "steps": [{"output_tokens": 1, "output_id": 1}]}, "task"),
        ({"id": "t", "tenant": "x", "arrival_s": 0, "steps": []}, "task"),
        ({"id": "t", "tenant": "x", "arrival_s": 0, "steps": [{"output_tokens": 0, "output_id": 1}]}, "task"),
        ({"id": "t", "tenant": "x", "arrival_s": 0, "steps": [{"output_tokens": 1, "output_id": 1, "tool": "b"}]}, "task"),
        ({"id": "t", "tenant": "x", "arrival_s": 0, "steps": [{"output_tokens": 1, "output_id": 1, "append": [[1, 0]]}]}, "task"),
    ],
)  # fmt: skip
def test_schema_rejects_what_the_reader_rejects(line: dict[str, Any], definition: str) -> None:
    with pytest.raises(jsonschema.ValidationError):
        _validator(definition).validate(line)
    header = '{"format":"sagacore-workload","version":1}\n'
    text = json.dumps(line) + "\n" if definition == "header" else header + json.dumps(line) + "\n"
    with pytest.raises(TraceFormatError):
        loads(text)


@pytest.mark.parametrize(
    ("rel", "head"),
    [
        ("swe-agent", 22),
        ("tracelab/round_trace.sanitized.example.jsonl", 2),
        ("mooncake/conversation_trace.jsonl", 300),
        ("mini-swe-agent/steps.csv", 3),
    ],
)
def test_real_traces_written_natively_validate(shared_data: Path, rel: str, head: int) -> None:
    from sagacore.workload.readers import read_workload

    validate_lines(dumps(read_workload(shared_data / rel).head(head)))
