"""sagacore-vllm: real vLLM V1 schedulers stepped on a CPU as a digital twin.

Only :mod:`sagacore_vllm.engine` imports vLLM, and only when an engine is built, so
``import sagacore_vllm`` is cheap and works without vLLM installed.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
