"""Test setup for the vLLM twin: vLLM's caches go to a fresh temporary directory.

vLLM caches the answer of its model-inspection subprocess under ``$VLLM_CACHE_ROOT``
(``~/.cache/vllm`` by default). A cached answer hides a package that the subprocess
needs and the environment lacks (``einops`` once did), so every test session starts
from an empty cache: a missing package fails here as it would on a fresh machine.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_CACHE = tempfile.mkdtemp(prefix="sagacore-vllm-cache-")
os.environ["VLLM_CACHE_ROOT"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
