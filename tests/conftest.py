"""Shared test configuration: Hypothesis profiles and paths to data.

Profiles: ``ci`` (deterministic: derandomize, fixed example count; used when CI is set
or by default) and ``nightly`` (many more examples; select with
``HYPOTHESIS_PROFILE=nightly``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

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
    "nightly",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (present on developer machines and in CI)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say in the summary when tests were skipped because ``../shared/data`` is absent."""
    skipped = terminalreporter.stats.get("skipped", [])
    n = sum(1 for rep in skipped if "../shared/data" in str(getattr(rep, "longrepr", "")))
    if n:
        terminalreporter.write_line(
            f"NOTE: {n} tests skipped because ../shared/data (the real traces) is not beside "
            f"this checkout ({SHARED_DATA}); put it there to run them.",
            yellow=True,
        )
