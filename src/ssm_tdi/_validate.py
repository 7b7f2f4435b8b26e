"""Input checks shared by the public API.

Every public function calls these before doing math, so bad input fails with a
``ValueError`` that names the argument and what was expected, never with a NaN
or a traceback from deep inside torch.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

__all__ = [
    "as_tensor",
    "check_finite",
    "check_length",
    "check_stable",
    "check_positive",
]


def as_tensor(x, name: str, *, complex_ok: bool = True, dtype=None, device=None) -> torch.Tensor:
    """Convert ``x`` (tensor, array, number) to a floating or complex tensor.

    Integer and boolean input is promoted to the default float dtype; complex input
    is rejected when ``complex_ok`` is False.
    """
    if isinstance(x, torch.Tensor):
        t = x
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:  # pragma: no cover - exotic objects
            raise ValueError(f"{name}: expected an array-like of numbers, got {type(x).__name__}") from exc
        if arr.dtype == object or arr.dtype.kind in "USV":
            raise ValueError(f"{name}: expected numbers, got an array of dtype {arr.dtype}")
        t = torch.as_tensor(arr)
    if t.dtype == torch.bool or not (t.is_floating_point() or t.is_complex()):
        t = t.to(torch.get_default_dtype())
    if t.is_complex() and not complex_ok:
        raise ValueError(f"{name}: expected real values, got complex dtype {t.dtype}")
    if dtype is not None or device is not None:
        t = t.to(dtype=dtype if dtype is not None else t.dtype, device=device)
    return t


def check_finite(t: torch.Tensor, name: str) -> torch.Tensor:
    """Raise if ``t`` holds NaN or inf."""
    if t.numel() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: expected finite values, found NaN or inf")
    return t


def check_length(L, name: str = "L") -> int:
    """A sequence length: a Python/NumPy integer >= 1."""
    if isinstance(L, bool) or not isinstance(L, numbers.Integral):
        raise ValueError(f"{name}: expected an integer >= 1, got {L!r}")
    if L < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {L}")
    return int(L)


def check_stable(lam: torch.Tensor, name: str = "lam") -> torch.Tensor:
    """Discrete-time stability: every |lam| < 1."""
    if lam.numel() and bool((lam.abs() >= 1).any()):
        worst = float(lam.abs().max())
        raise ValueError(f"{name}: expected stable poles with |{name}| < 1, found max |{name}| = {worst:.6g}")
    return lam


def check_positive(t: torch.Tensor, name: str) -> torch.Tensor:
    if t.numel() and bool((t <= 0).any()):
        raise ValueError(f"{name}: expected values > 0, found min {float(t.min()):.6g}")
    return t
