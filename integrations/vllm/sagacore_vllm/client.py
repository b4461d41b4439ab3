"""Program metadata: what an agent sends with each LLM call so that sagacore sees programs.

The plug-in (:mod:`sagacore_vllm.plugin`) schedules *programs* (agent tasks: graphs of
LLM calls separated by tool calls, most often chains), not single requests. vLLM 0.33 carries what it needs
to the scheduler through two public channels of its OpenAI-compatible server:

- the **program id** is vLLM's own ``Request.session_id``: the ``X-Session-ID`` HTTP
  header, a body ``session_id`` field, or ``vllm_xargs["session_id"]`` (vLLM reads them
  in that order: body, header, ``vllm_xargs``);
- everything else rides in ``vllm_xargs`` (a body field that vLLM hands to the scheduler
  as ``request.sampling_params.extra_args``), under these keys:

======================  =========  ===================================================
key                     type       meaning
======================  =========  ===================================================
``sagacore_step``       int >= 0   index of this call in its program (default: the
                                   number of calls of the program seen so far)
``sagacore_tenant``     str        the tenant (fair-share policies); default ``default``
``sagacore_agent_type`` str        the agent type (predictor statistics); default
                                   ``agent``
``sagacore_tool``       str        the tool this call's answer will invoke, when the
                                   agent knows it (a declared graph); ``""``: no tool.
                                   Default: ``tool`` for a call that is not the last
``sagacore_last``       int 0/1    1 when no call of the program follows this one
                                   (a chain's last call; of a DAG's parallel last
                                   calls, the one sent last). The program ends when
                                   it and every call sent before it have finished
``sagacore_parents``    list[int]  the steps this call waited for (a DAG: a join
                                   lists each branch); default: the previous step
                                   (a chain)
``sagacore_tool_s``     list[num]  how long each parent's tool ran, seconds (as the
                                   agent measured it; one per parent, with
                                   ``sagacore_parents``); default: from the parent's
                                   end to this call's arrival
======================  =========  ===================================================

Absent metadata is never an error: a request without a program id is a program of one
call (its id the request id, ``last`` implied), and a value of the wrong type is ignored
(logged once) and its default used.

Examples
--------
>>> meta = ProgramMetadata("task-17", step=3, tenant="acme", tool="bash", parents=(1, 2),
...                        parent_tool_s=(0.5, 2.0))
>>> meta.headers()
{'X-Session-ID': 'task-17'}
>>> meta.xargs()
{'session_id': 'task-17', 'sagacore_step': 3, 'sagacore_tenant': 'acme', \
'sagacore_agent_type': 'agent', 'sagacore_tool': 'bash', 'sagacore_last': 0, \
'sagacore_parents': [1, 2], 'sagacore_tool_s': [0.5, 2.0]}
>>> kwargs = meta.openai_kwargs()           # client.chat.completions.create(..., **kwargs)
>>> sorted(kwargs), sorted(kwargs["extra_body"])
(['extra_body', 'extra_headers'], ['session_id', 'vllm_xargs'])
>>> ProgramMetadata.parse("req-1", None, None)     # no metadata: a program of one call
ProgramMetadata(program_id='req-1', step=None, tenant='default', agent_type='agent', \
tool=None, last=True, explicit=False, parents=None, parent_tool_s=None)
>>> ProgramMetadata.parse("req-2", "task-17", meta.xargs()) == meta
True
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_TOOL",
    "SESSION_HEADER",
    "XARG_AGENT_TYPE",
    "XARG_LAST",
    "XARG_PARENTS",
    "XARG_STEP",
    "XARG_TENANT",
    "XARG_TOOL",
    "XARG_TOOL_S",
    "ProgramMetadata",
]

_log = logging.getLogger(__name__)

SESSION_HEADER = "X-Session-ID"
"""The HTTP header vLLM 0.33 reads into ``Request.session_id``."""
XARG_STEP = "sagacore_step"
XARG_TENANT = "sagacore_tenant"
XARG_AGENT_TYPE = "sagacore_agent_type"
XARG_TOOL = "sagacore_tool"
XARG_LAST = "sagacore_last"
XARG_PARENTS = "sagacore_parents"
XARG_TOOL_S = "sagacore_tool_s"
DEFAULT_TOOL = "tool"
"""Tool name of a call that is not its program's last when the client names none."""
_DEFAULT_TENANT = "default"
_DEFAULT_AGENT = "agent"
_warned: set[str] = set()


def _warn(key: str, value: object) -> None:
    if key not in _warned:
        _warned.add(key)
        _log.warning("sagacore: ignoring vllm_xargs[%r]=%r (wrong type); using the default",
                     key, value)


@dataclass(frozen=True)
class ProgramMetadata:
    """The program facts of one LLM call (see the module notes for the wire format).

    Examples
    --------
    >>> ProgramMetadata("t", last=True).xargs()["sagacore_last"]
    1
    """

    program_id: str
    """The program (agent task) the call belongs to; vLLM's ``session_id``."""
    step: int | None = None
    """Index of the call in its program (None: count the program's calls)."""
    tenant: str = _DEFAULT_TENANT
    """The tenant the program belongs to."""
    agent_type: str = _DEFAULT_AGENT
    """The kind of agent (what the predictor groups statistics by)."""
    tool: str | None = None
    """The tool the call's answer invokes (None: unknown, or no tool when ``last``)."""
    last: bool = False
    """Whether no call of the program follows this one (of parallel last calls, the one
    sent last)."""
    explicit: bool = True
    """Whether the client named the program (False: the request is its own program)."""
    parents: tuple[int, ...] | None = None
    """The steps this call depends on (None: not said; the previous step, a chain)."""
    parent_tool_s: tuple[float, ...] | None = None
    """How long each of :attr:`parents`' tools ran, seconds (None: not measured; the
    plug-in takes the time from a parent's end to this call's arrival, which in a join
    is the last branch's tool for every branch)."""

    def __post_init__(self) -> None:
        if self.parent_tool_s is not None and (
                self.parents is None or len(self.parent_tool_s) != len(self.parents)):
            raise ValueError("parent_tool_s needs parents, one duration per parent")

    def parents_of(self, step: int) -> tuple[int, ...]:
        """The call's parents as step ``step`` of its program: :attr:`parents`, or the
        previous step when the client said none (a chain).

        Examples
        --------
        >>> ProgramMetadata("t").parents_of(3), ProgramMetadata("t", parents=(0, 1)).parents_of(3)
        ((2,), (0, 1))
        >>> ProgramMetadata("t").parents_of(0)
        ()
        """
        if self.parents is not None:
            return self.parents
        return (step - 1,) if step > 0 else ()

    def xargs(self) -> dict[str, Any]:
        """The ``vllm_xargs`` body field (program id included, for clients without headers)."""
        out: dict[str, Any] = {"session_id": self.program_id}
        if self.step is not None:
            out[XARG_STEP] = self.step
        out[XARG_TENANT] = self.tenant
        out[XARG_AGENT_TYPE] = self.agent_type
        if self.tool is not None:
            out[XARG_TOOL] = self.tool
        out[XARG_LAST] = int(self.last)
        if self.parents is not None:
            out[XARG_PARENTS] = list(self.parents)
        if self.parent_tool_s is not None:
            out[XARG_TOOL_S] = list(self.parent_tool_s)
        return out

    def headers(self) -> dict[str, str]:
        """The HTTP headers (``X-Session-ID``)."""
        return {SESSION_HEADER: self.program_id}

    def extra_body(self) -> dict[str, Any]:
        """Body fields for an OpenAI client's ``extra_body``: ``session_id`` and ``vllm_xargs``."""
        return {"session_id": self.program_id, "vllm_xargs": self.xargs()}

    def openai_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``client.chat.completions.create`` / ``completions.create``."""
        return {"extra_headers": self.headers(), "extra_body": self.extra_body()}

    @classmethod
    def parse(
        cls,
        request_id: str,
        session_id: str | None,
        extra_args: Mapping[str, Any] | None,
    ) -> ProgramMetadata:
        """The metadata of a vLLM request; never raises.

        Parameters
        ----------
        request_id
            vLLM's request id (the program id when the client gave none).
        session_id
            ``Request.session_id`` (header, body field or ``vllm_xargs``).
        extra_args
            ``request.sampling_params.extra_args`` (the ``vllm_xargs``).
        """
        xa: Mapping[str, Any] = extra_args or {}
        pid = session_id or xa.get("session_id")
        explicit = isinstance(pid, str) and bool(pid)
        step: int | None = None
        raw = xa.get(XARG_STEP)
        if raw is not None:
            if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
                step = raw
            elif isinstance(raw, str) and raw.isdigit():
                step = int(raw)
            else:
                _warn(XARG_STEP, raw)
        tenant = _string(xa, XARG_TENANT, _DEFAULT_TENANT)
        agent = _string(xa, XARG_AGENT_TYPE, _DEFAULT_AGENT)
        last_raw = xa.get(XARG_LAST, 0)
        if isinstance(last_raw, bool | int | float):
            last = bool(last_raw)
        elif isinstance(last_raw, str) and last_raw.lower() in ("0", "1", "true", "false"):
            last = last_raw.lower() in ("1", "true")
        else:
            _warn(XARG_LAST, last_raw)
            last = False
        tool: str | None = None
        raw_tool = xa.get(XARG_TOOL)
        if isinstance(raw_tool, str):
            tool = raw_tool or None
        elif raw_tool is not None:
            _warn(XARG_TOOL, raw_tool)
        parents: tuple[int, ...] | None = None
        raw_parents = xa.get(XARG_PARENTS)
        if raw_parents is not None:
            if (isinstance(raw_parents, list | tuple)
                    and all(isinstance(p, int) and not isinstance(p, bool) and p >= 0
                            for p in raw_parents)
                    and len(set(raw_parents)) == len(raw_parents)
                    and (step is None or all(p < step for p in raw_parents))):
                parents = tuple(raw_parents)
            else:
                _warn(XARG_PARENTS, raw_parents)
        tool_s: tuple[float, ...] | None = None
        raw_tool_s = xa.get(XARG_TOOL_S)
        if raw_tool_s is not None:
            if (parents is not None and isinstance(raw_tool_s, list | tuple)
                    and len(raw_tool_s) == len(parents)
                    and all(isinstance(s, int | float) and not isinstance(s, bool)
                            and math.isfinite(s) and s >= 0 for s in raw_tool_s)):
                tool_s = tuple(float(s) for s in raw_tool_s)
            else:
                _warn(XARG_TOOL_S, raw_tool_s)
        if not explicit:
            return cls(request_id, step, tenant, agent, tool, True, explicit=False,
                       parents=parents, parent_tool_s=tool_s)
        assert isinstance(pid, str)
        if not isinstance(raw_tool, str) and not last:
            tool = DEFAULT_TOOL  # not given (or unusable): a tool of unknown type
        return cls(pid, step, tenant, agent, tool, last, parents=parents, parent_tool_s=tool_s)


def _string(xa: Mapping[str, Any], key: str, default: str) -> str:
    v = xa.get(key)
    if v is None:
        return default
    if isinstance(v, str) and v:
        return v
    _warn(key, v)
    return default
