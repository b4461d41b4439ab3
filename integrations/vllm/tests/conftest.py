"""Test setup for the vLLM twin: vLLM's caches go to a fresh temporary directory; the
Hypothesis CI profile.

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

# Hypothesis: the repository's deterministic CI profile (tests/conftest.py's), unless
# HYPOTHESIS_PROFILE names another registered one.
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass
else:
    settings.register_profile(
        "ci",
        derandomize=True,
        max_examples=60,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile(
        "nightly", max_examples=2000, deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
