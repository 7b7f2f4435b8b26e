"""Kernel-regression learning curves (claim C4; Canatar, Bordelon & Pehlevan 2021).

Given the induced kernel's eigenvalues eta_r, the target's power a_r^2 on each
eigenmode, ridge lam, label-noise variance sigma^2 and P training samples:

    kappa = lam + kappa * sum_r eta_r / (P eta_r + kappa)               (self-consistent)
    gamma = sum_r P eta_r^2 / (P eta_r + kappa)^2
    E_g   = 1/(1 - gamma) * [ sum_r a_r^2 kappa^2 / (P eta_r + kappa)^2 + sigma^2 gamma ]

Modes with eta_r = 0 cannot be learned: they contribute a_r^2 / (1 - gamma) for every P.
Ridge 0: with M positive eigenvalues, kappa > 0 solves 1 = sum eta/(P eta + kappa)
when P < M, and kappa = 0 when P >= M (interpolation; gamma = M/P, and E_g is
infinite at P = M if there is unlearnable power or noise).

This is theory on spectra, so it runs in NumPy float64; tensors are accepted.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

__all__ = ["predict", "solve_kappa", "cumulative_power", "cumulative_power_area", "samples_to_reach"]


def _array(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as exc:  # ragged nested sequences
        raise ValueError(f"{name}: expected an array of numbers, got {type(x).__name__}: {exc}") from exc


def _vector(x, name: str) -> np.ndarray:
    a = _array(x, name)
    if a.dtype.kind == "c":
        raise ValueError(f"{name}: expected real values, got complex")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected numbers, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: expected finite values, found NaN or inf")
    return a


def _scalar(x, name: str, *, minimum: float = 0.0) -> float:
    a = _array(x, name)
    if a.dtype.kind not in "iuf" or a.size != 1:
        # complex (float() would silently drop the imaginary part), bool, strings, None, arrays
        raise ValueError(f"{name}: expected a real number >= {minimum}, got {x!r}")
    v = float(a.reshape(()))
    if not np.isfinite(v) or v < minimum:
        raise ValueError(f"{name}: expected a finite real number >= {minimum}, got {x!r}")
    return v


def _spectrum(eigenvalues, target_power):
    eta = _vector(eigenvalues, "eigenvalues")
    a2 = _vector(target_power, "target_power")
    if eta.shape != a2.shape:
        raise ValueError(f"eigenvalues, target_power: expected equal shapes, got {eta.shape} and {a2.shape}")
    eta = _eigen(eta)
    if np.any(a2 < 0):
        raise ValueError("target_power: expected values >= 0 (squared amplitudes)")
    with np.errstate(over="ignore"):
        total = np.sum(a2)
    if not np.isfinite(total):  # E_g is built from this sum
        raise ValueError("target_power: values too large, their sum overflows float64")
    return eta, a2


def solve_kappa(eta, P: float, ridge: float) -> float:
    """The self-consistent kappa for one sample size P (``inf`` at P = 0, 0 when interpolating).

    Args:
        eta: ``(M,)`` kernel eigenvalues >= 0.
        P: sample size >= 0.
        ridge: ridge parameter >= 0.
    """
    eta = _eigen(eta, "eta")
    P = _scalar(P, "P")
    ridge = _scalar(ridge, "ridge")
    _check_scale(eta, ridge, "eta")
    return _solve_kappa(eta, P, ridge)


def _eigen(eigenvalues, name: str = "eigenvalues") -> np.ndarray:
    """Validated eigenvalues; negative values at rounding level (an SVD squared) become 0."""
    eta = _vector(eigenvalues, name)
    tol = 1e3 * np.finfo(np.float64).eps * max(float(np.abs(eta).max()), 1e-300)
    if np.any(eta < -tol):
        raise ValueError(f"{name}: expected values >= 0 (a PSD kernel), found {eta.min():.3g}")
    with np.errstate(over="ignore"):
        total = np.sum(np.abs(eta))
    if not np.isfinite(total):
        raise ValueError(f"{name}: values too large, their sum overflows float64")
    return np.clip(eta, 0.0, None)


def _check_scale(eta: np.ndarray, ridge: float, name: str = "eigenvalues") -> None:
    """The root brackets use 2 (ridge + sum eta): it must be a finite float64."""
    with np.errstate(over="ignore"):
        hi = 2.0 * (ridge + float(eta.sum()))
    if not np.isfinite(hi):
        raise ValueError(f"{name}, ridge: too large, 2 (ridge + sum({name})) overflows float64; "
                         "rescale both by the same factor")


def _solve_kappa(eta: np.ndarray, P: float, ridge: float) -> float:
    """solve_kappa on validated input (P * eta may overflow to inf for P ~ 1e308: the terms
    eta / (P eta + kappa) then correctly vanish, so the overflow warning is silenced)."""
    with np.errstate(over="ignore"):
        return _solve_kappa_core(eta, P, ridge)


def _solve_kappa_core(eta: np.ndarray, P: float, ridge: float) -> float:
    pos = eta[eta > 0]
    if P == 0:
        return np.inf
    if ridge > 0:
        # f(kappa) = kappa (1 - sum eta/(P eta + kappa)) - ridge: f(0) = -ridge < 0 and
        # f(k) >= k - sum eta - ridge, so f(2 (ridge + sum eta)) >= ridge + sum eta > 0
        # with a margin far above rounding (at k = ridge + sum eta itself f is only
        # >= 0, and rounds negative when P eta << kappa, e.g. P = 1e-300).
        def f(k):
            if k == 0:  # exact limit; the sum can overflow to inf (0 * inf = NaN) for P ~ 1e-308
                return -ridge
            return k * (1.0 - np.sum(pos / (P * pos + k))) - ridge

        hi = 2.0 * (ridge + pos.sum())
        return brentq(f, 0.0, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    if pos.size <= P:
        return 0.0

    # ridge 0, P < M: h(kappa) = 1 - sum eta/(P eta + kappa) rises from 1 - M/P < 0 to
    # >= 1/2 at kappa = 2 sum eta (a margin: at sum eta itself h is only >= 0 and can round
    # negative for tiny P). Solve in log kappa since the root can be many decades below.
    def h(logk):
        return 1.0 - np.sum(pos / (P * pos + np.exp(logk)))

    hi = np.log(2.0 * pos.sum())
    lo = hi - 1.0
    while h(lo) > 0:
        lo -= 10.0
        if lo < -745:  # exp underflow: the root is at kappa ~ 0
            return 0.0
    return float(np.exp(brentq(h, lo, hi, xtol=1e-14, maxiter=500)))


def predict(eigenvalues, target_power, P, ridge: float = 0.0, noise: float = 0.0):
    """Predicted generalization error E_g for each sample size in ``P``.

    Args:
        eigenvalues: ``(M,)`` kernel eigenvalues eta_r >= 0 (any order).
        target_power: ``(M,)`` a_r^2, the target's power on eigenmode r (same order).
        P: a number or 1-D array of sample sizes >= 0 (need not be integers).
        ridge: ridge parameter lam >= 0 (sum-of-squares convention: minimise
            sum_i (f(x_i) - y_i)^2 + lam ||f||^2).
        noise: label-noise standard deviation sigma >= 0.

    Returns:
        float (scalar P) or ``(len(P),)`` array of E_g; ``inf`` where theory diverges.
    """
    eta, a2 = _spectrum(eigenvalues, target_power)
    ridge = _scalar(ridge, "ridge")
    _check_scale(eta, ridge)
    with np.errstate(over="ignore"):
        sigma2 = float(np.square(np.float64(_scalar(noise, "noise"))))
    if not np.isfinite(sigma2):
        raise ValueError(f"noise: too large, noise**2 overflows float64, got {noise!r}")
    scalar = np.ndim(P) == 0
    Ps = np.atleast_1d(_array(P, "P"))
    if Ps.dtype.kind not in "iuf":
        # complex would lose its imaginary part in a cast; bool, strings, None are not sizes
        raise ValueError(f"P: expected real sample sizes, got dtype {Ps.dtype} ({P!r})")
    Ps = Ps.astype(np.float64)
    if Ps.ndim != 1 or not np.all(np.isfinite(Ps)) or np.any(Ps < 0):
        raise ValueError(f"P: expected a number or 1-D array of finite sample sizes >= 0, got {P!r}")
    out = np.empty(Ps.shape)
    for i, p in enumerate(Ps):
        out[i] = _error_at(eta, a2, p, ridge, sigma2)
        if np.isnan(out[i]):  # pragma: no cover - the checks above leave no way to a NaN
            raise ValueError(f"eigenvalues, target_power, P: E_g is NaN at P = {p}")
    return float(out[0]) if scalar else out


def _error_at(eta, a2, P, ridge, sigma2) -> float:
    if P == 0:
        return float(a2.sum())
    kappa = _solve_kappa(eta, P, ridge)
    pos = eta > 0
    if kappa > 0:
        with np.errstate(over="ignore"):
            top = P * float(eta.max()) + kappa
            overflow = not np.isfinite(top * top)
        if overflow:  # the squared denominators below would be inf (inf / inf = NaN before this check)
            raise ValueError(f"eigenvalues, P, ridge: P * max(eigenvalues) + kappa = {top:.3g} at P = {P:.3g} "
                             "is too large, its square overflows float64")
        denom = P * eta + kappa
        gamma = float(np.sum(P * eta**2 / denom**2))
        resid = float(np.sum(a2 * kappa**2 / denom**2))
    else:  # interpolation regime (ridge 0, P >= M): learnable modes fit exactly
        gamma = float(pos.sum()) / P
        resid = float(a2[~pos].sum())
    if gamma >= 1.0:
        return np.inf if (resid > 0 or sigma2 > 0) else 0.0
    E = (resid + sigma2 * gamma) / (1.0 - gamma)
    if not np.isfinite(E):  # only the documented divergence (gamma >= 1) may give inf
        raise ValueError(f"target_power, noise: E_g overflows float64 at P = {P} (1 - gamma = {1.0 - gamma:.3g}); "
                         "the target power or noise is too large")
    return E


def cumulative_power(eigenvalues, target_power) -> np.ndarray:
    """C(k) = sum_{r <= k} a_r^2 / sum_r a_r^2 with modes sorted by descending eigenvalue.

    C rising fast means the target lives in the kernel's top modes, which are learned
    first: the model's bias is aligned with the task. Returns ``(M,)`` in [0, 1].
    """
    eta, a2 = _spectrum(eigenvalues, target_power)
    total = a2.sum()
    if total <= 0:
        raise ValueError("target_power: expected some positive power, got all zeros")
    order = np.argsort(-eta, kind="stable")
    return np.cumsum(a2[order]) / total


def cumulative_power_area(eigenvalues, target_power) -> float:
    """Mean of C(k) over k = 1..M: 1 when all power sits in the top mode, about 1/2
    when it is spread evenly, near 1/M when it sits in the last mode."""
    return float(cumulative_power(eigenvalues, target_power).mean())


def samples_to_reach(P, error, target: float) -> float:
    """The sample size at which a learning curve first reaches ``target``, interpolated log-log.

    Between consecutive grid points (P_i, E_i) above and (P_{i+1}, E_{i+1}) at or below the target,
    log E is taken linear in log P (a power law between two measured points). Returns P[0] if the
    curve starts at or below the target (the true value is <= P[0]) and ``inf`` if it never gets there.

    Args:
        P: ``(n,)`` increasing sample sizes > 0.
        error: ``(n,)`` errors > 0 at those sizes (e.g. a mean over trials).
        target: the error to reach, > 0.
    """
    Ps = _vector(P, "P")
    E = _vector(error, "error")
    if Ps.shape != E.shape:
        raise ValueError(f"P, error: expected equal shapes, got {Ps.shape} and {E.shape}")
    if np.any(Ps <= 0) or np.any(np.diff(Ps) <= 0):
        raise ValueError(f"P: expected strictly increasing sample sizes > 0, got {Ps}")
    if np.any(E <= 0):
        raise ValueError("error: expected errors > 0 (the interpolation is on a log scale)")
    target = _scalar(target, "target")
    if target <= 0:
        raise ValueError(f"target: expected an error > 0, got {target!r}")
    below = np.flatnonzero(E <= target)
    if below.size == 0:
        return np.inf
    i = int(below[0])
    if i == 0:
        return float(Ps[0])
    x0, x1, y0, y1 = np.log(Ps[i - 1]), np.log(Ps[i]), np.log(E[i - 1]), np.log(E[i])
    return float(np.exp(x0 + (np.log(target) - y0) * (x1 - x0) / (y1 - y0)))
