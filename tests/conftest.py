"""Shared pytest configuration.

Hypothesis profiles: ``ci`` (default; derandomized, fixed example budget so every run
tries the same cases) and ``long`` (many more examples, random). Select with
``pytest --hypothesis-profile=long`` or ``SSM_TDI_HYPOTHESIS=long``.

``fuzz_counter`` (session fixture) counts the cases tests/test_fuzz.py tries per public
function; the table "function: N cases (k valid, m rejected)" is printed at the end of the run.
"""

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=40,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=1000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("SSM_TDI_HYPOTHESIS", "ci"))

# Two cores: keep torch from oversubscribing when pytest runs alongside other work.
torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


# ----------------------------------------------------------------------------- fuzz case counts
class FuzzCounter:
    """Cases tried per public function by tests/test_fuzz.py: valid (returned) or rejected (clean error)."""

    def __init__(self):
        self.counts: dict[str, list[int]] = {}
        self.finished: set[str] = set()

    def add(self, name: str, valid: bool) -> None:
        c = self.counts.setdefault(name, [0, 0])
        c[0 if valid else 1] += 1

    def total(self, *names: str) -> int:
        return sum(sum(self.counts.get(n, (0, 0))) for n in names)


_FUZZ = FuzzCounter()


@pytest.fixture(scope="session")
def fuzz_counter() -> FuzzCounter:
    return _FUZZ


def pytest_terminal_summary(terminalreporter):
    if not _FUZZ.counts:
        return
    tr = terminalreporter
    tr.write_sep("-", "fuzzed cases per function (tests/test_fuzz.py)")
    width = max(len(n) for n in _FUZZ.counts)
    for name in sorted(_FUZZ.counts):
        ok, bad = _FUZZ.counts[name]
        tr.write_line(f"{name:<{width}}: {ok + bad:5d} cases ({ok} valid, {bad} rejected)")
    ok = sum(c[0] for c in _FUZZ.counts.values())
    bad = sum(c[1] for c in _FUZZ.counts.values())
    tr.write_line(f"{'total':<{width}}: {ok + bad:5d} cases ({ok} valid, {bad} rejected)")
