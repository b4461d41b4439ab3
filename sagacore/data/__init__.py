"""Data shipped with sagacore (each folder keeps its SOURCE.txt: origin and licence).

- ``mini-swe-agent/steps.csv``: 15,881 real LLM calls of 198 SWE-bench Lite agent runs
  (mini-swe-agent with the DeepSeek API; MIT licence). The default trace of the CLI.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["bundled_trace", "data_path"]


def data_path(*parts: str) -> Path:
    """Path of a bundled data file."""
    return Path(str(files("sagacore.data").joinpath(*parts)))


def bundled_trace() -> Path:
    """The bundled real SWE-bench agent trace (steps CSV)."""
    return data_path("mini-swe-agent", "steps.csv")
