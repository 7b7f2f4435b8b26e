"""Samplers of single-channel diagonal SSMs for the numerical checks (float64 throughout).

Families (every sampler draws only from the ``torch.Generator`` it is given, so a fixed
seed gives the same SSMs on every run):

* :func:`default_ssm` - the S4D-Lin default initialization, from
  :func:`ssm_tdi.inits.s4d_lin` (a_n = -1/2 + i pi n, B_n = 1, C_n ~ CN(0, 1)) with
  dt log-uniform in [1e-3, 1e-1] from :func:`ssm_tdi.inits.init_log_dt`, ZOH.
* :func:`random_ssm` - random stable poles from :func:`ssm_tdi.inits.random_init`:
  -Re a_n log-uniform in ``decay`` (default [0.01, 2]), Im a_n uniform in [0, pi/dt)
  (the whole Nyquist band; the conjugate half of the band comes with the implied
  conjugate modes, and B, C ~ CN(0, 1) are symmetric under conjugation), dt
  log-uniform in ``dt_range``, ZOH or bilinear.
* :func:`delay_ssm` - an adversarial SSM whose kernel is a single delayed pulse,
  K_m = rho^d [m = d]: the equality case of the C2 (Mirsky) bound.

Discretization and kernel come from :mod:`ssm_tdi.kernels`; nothing here re-derives them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ssm_tdi import inits, kernels

__all__ = ["SSM", "default_ssm", "random_ssm", "delay_ssm", "ssm_family", "decayed_family", "decay_length"]


@dataclass(frozen=True)
class SSM:
    """One channel of a diagonal SSM in continuous time plus its discretization rule."""

    A: torch.Tensor  # complex128 (N2,), continuous poles, Re < 0
    B: torch.Tensor  # complex128 (N2,)
    C: torch.Tensor  # complex128 (N2,)
    dt: float
    method: str  # "zoh" or "bilinear"
    label: str

    def discrete(self):
        """``(lam, Bbar)`` from :func:`ssm_tdi.kernels.discretize`."""
        dt = torch.tensor(self.dt, dtype=torch.float64)
        return kernels.discretize(self.A, self.B, dt, method=self.method)

    def kernel(self, L: int) -> torch.Tensor:
        """The real convolution kernel K_0..K_{L-1} (float64)."""
        lam, Bbar = self.discrete()
        return kernels.ssm_kernel(lam, Bbar, self.C, L)

    def describe(self) -> dict:
        """A JSON-friendly summary (label, dt, method, N2, decay length in steps)."""
        return {"label": self.label, "dt": self.dt, "method": self.method,
                "N2": int(self.A.shape[-1]), "decay_length": decay_length(self)}


def decay_length(ssm: SSM) -> float:
    """Slowest e-folding time of the kernel, in steps: 1 / min_n (-log |lam_n|)."""
    lam, _ = ssm.discrete()
    return float(1.0 / (-torch.log(lam.abs())).min())


def _log_uniform_dt(gen: torch.Generator, dt_range) -> float:
    return float(torch.exp(inits.init_log_dt(1, *dt_range, generator=gen))[0])


def default_ssm(gen: torch.Generator, N2: int = 16, dt_range=(1e-3, 1e-1), method: str = "zoh") -> SSM:
    """S4D-Lin initialization (the default SSM layer init) with a log-uniform step."""
    A, B, C = inits.s4d_lin(1, N2, generator=gen)
    dt = _log_uniform_dt(gen, dt_range)
    return SSM(A[0], B[0], C[0], dt, method, f"s4d-lin dt={dt:.2g}")


def random_ssm(gen: torch.Generator, N2: int = 8, decay=(0.01, 2.0), dt_range=(1e-3, 1e-1),
               method: str = "zoh") -> SSM:
    """Random stable SSM: -Re a log-uniform in ``decay``, Im a in [0, pi/dt), B, C ~ CN(0, 1)."""
    dt = _log_uniform_dt(gen, dt_range)
    A, B, C = inits.random_init(1, N2, generator=gen, dt_max=dt,
                                log_real_range=(math.log(decay[0]), math.log(decay[1])))
    return SSM(A[0], B[0], C[0], dt, method, f"random-{method} dt={dt:.2g}")


def delay_ssm(L: int, d: int, rho: float = 0.9, dt: float = 1.0) -> SSM:
    """An SSM whose length-L kernel is the single pulse K_m = rho^d [m = d] (0 < d < L).

    L modes with poles lam_n = rho e^{2 pi i n/L} and residues c_n = e^{-2 pi i n d/L}/(2L):
    2 Re sum_n c_n lam_n^m = rho^m [m = d mod L]. Then T is a shift and C a cyclic shift,
    so sum_j (s_j - |Hhat|_(j))^2 = d rho^{2d} = ||T - C||_F^2: Mirsky's bound is tight.
    Continuous parameters: a_n = log(lam_n)/dt, B = 1 and C_n = c_n / Bbar_n (ZOH).
    """
    n = torch.arange(L, dtype=torch.float64)
    lam = rho * torch.exp(2j * math.pi * n / L)
    A = torch.log(lam) / dt
    B = torch.ones(L, dtype=torch.complex128)
    _, Bbar = kernels.discretize(A, B, torch.tensor(dt, dtype=torch.float64), method="zoh")
    c = torch.exp(-2j * math.pi * n * d / L) / (2 * L)
    return SSM(A, B, c / Bbar, dt, "zoh", f"delay d={d}")


def ssm_family(seed: int, n_default: int, n_random: int, *, default_dt=(1e-3, 1e-1),
               random_dt=(1e-3, 1e-1), decay=(0.01, 2.0)) -> list[SSM]:
    """``n_default`` S4D-Lin SSMs then ``n_random`` random ones (alternately ZOH and
    bilinear), reproducible from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    out = [default_ssm(gen, dt_range=default_dt) for _ in range(n_default)]
    for i in range(n_random):
        out.append(random_ssm(gen, decay=decay, dt_range=random_dt, method=("zoh", "bilinear")[i % 2]))
    return out


def decayed_family(seed: int, n_default: int, n_random: int) -> list[SSM]:
    """SSMs whose kernels have decayed well within L = 64..1024 (the asymptotic regime of
    C2/C3): S4D-Lin with dt in [0.03, 0.1] (decay length 2/dt <= 67 steps) and random
    poles with -Re a in [0.5, 2], dt in [0.05, 0.1] (decay length <= 40 steps)."""
    return ssm_family(seed, n_default, n_random, default_dt=(0.03, 0.1), random_dt=(0.05, 0.1),
                      decay=(0.5, 2.0))
