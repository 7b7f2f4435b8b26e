"""A memory budget for the command line: refuse a job whose estimated peak does not fit, before allocating.

The budget is the environment variable ``SSM_TDI_MAX_MEMORY`` (bytes, or with a suffix K, M, G, T:
``SSM_TDI_MAX_MEMORY=2G``) or else the memory the kernel reports as available (``MemAvailable`` in
``/proc/meminfo``; elsewhere half of the physical memory). Estimates are upper bounds measured on this
code (see ``ssm_tdi.cli``); a job above the budget fails with one line naming the input to shrink.
"""

from __future__ import annotations

import os

__all__ = ["MemoryBudgetError", "budget", "require", "format_bytes"]

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


class MemoryBudgetError(ValueError):
    """An input whose processing would need more memory than the budget."""


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _parse(text: str) -> int:
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1:] if t[-1:] in _UNITS and t[-1:] else ""
    try:
        value = float(t[: len(t) - len(unit)]) * _UNITS[unit]
    except ValueError:
        raise MemoryBudgetError(f"SSM_TDI_MAX_MEMORY: expected bytes such as 2G or 500M, got {text!r}") from None
    if not value > 0:
        raise MemoryBudgetError(f"SSM_TDI_MAX_MEMORY: expected a positive size, got {text!r}")
    return int(value)


def budget() -> tuple[int, str]:
    """(bytes, where the number comes from)."""
    env = os.environ.get("SSM_TDI_MAX_MEMORY")
    if env:
        return _parse(env), "SSM_TDI_MAX_MEMORY"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "available memory"
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2, "half the physical memory"
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30, "an assumed 8 GiB"


def require(nbytes: float, what: str) -> None:
    """Raise MemoryBudgetError (message starting with ``what``) if ``nbytes`` exceeds the budget."""
    limit, source = budget()
    if nbytes > limit:
        raise MemoryBudgetError(f"{what} needs about {format_bytes(nbytes)}, more than the {format_bytes(limit)} of "
                                f"{source} (set SSM_TDI_MAX_MEMORY to change the limit)")
