"""Shared Hypothesis strategies for random *stable* diagonal SSMs (one channel).

Import from any test module (pytest's default ``prepend`` import mode puts ``tests/`` on
``sys.path``)::

    from strategies import SSM, lengths, stable_ssms

    @given(ssm=stable_ssms(), L=lengths())
    def test_something(ssm, L):
        K = ssm_kernel(ssm.lam, ssm.Bbar, ssm.C, L)

What is drawn
-------------
:func:`stable_ssms` draws an :class:`SSM`: ``n2`` complex modes (1..``max_n2``), each
with a *target* discrete pole ``lam = rho * exp(i phi)`` whose placement is one of
:data:`POLE_REGIONS`:

* ``"generic"``       rho in [0.05, 0.95], phi in [-pi, pi]
* ``"near_unit"``     1 - rho log-uniform in [``min_gap``, 1e-2], phi in [-pi, pi]
  (slow decay: long kernels, sharp resonances)
* ``"near_zero"``     phi log-uniform in [1e-9, 1e-2] with random sign (nearly real,
  positive poles: low-pass, nearly conjugate-degenerate pairs)
* ``"near_pi"``       phi = +-(pi - delta), delta log-uniform in [1e-9, 1e-2] (nearly real
  negative poles: Nyquist-frequency resonance, alternating kernels)
* ``"small"``         rho log-uniform in [1e-4, 1e-1] (kernel dies within a few steps)
* ``"mixed"``         each mode picks its own region from the five above.

Then a step ``dt`` (log-uniform in [1e-3, 1]) and a ``method`` (``"zoh"`` or
``"bilinear"``) are drawn, and the *continuous* pole ``A`` that the method maps to the
target pole is solved for (ZOH: ``A = log(lam)/dt``; bilinear:
``A = (2/dt)(lam - 1)/(lam + 1)``), so both discretizations are exercised while the
pole placement stays under control. ``lam, Bbar`` are then recomputed with
:func:`ssm_tdi.kernels.discretize` (so ``lam`` equals the target up to rounding).
``B`` and ``C`` are complex with real and imaginary parts in [-2, 2].

Everything is complex128 / float64; cast in the test if you need float32. Pass
``discretized=False`` to skip ``A, B, dt`` and draw ``Bbar`` directly.

Example budgets
---------------
The ``ci`` profile (tests/conftest.py) runs 40 derandomized examples per test; the
``long`` profile 1000 random ones. :func:`max_length` is 256 under ``ci`` and 1024 under
``long``, so property tests over ``lengths()`` stay fast in CI and explore long kernels
in the long run. Use :func:`is_long_profile` for any other profile-dependent size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from hypothesis import settings
from hypothesis import strategies as st

from ssm_tdi.kernels import discretize

__all__ = [
    "POLE_REGIONS",
    "SSM",
    "is_long_profile",
    "max_length",
    "lengths",
    "poles",
    "random_ssm",
    "stable_ssms",
]

POLE_REGIONS = ("generic", "near_unit", "near_zero", "near_pi", "small", "mixed")
_SINGLE_REGIONS = POLE_REGIONS[:-1]


def is_long_profile() -> bool:
    """True when the active Hypothesis profile is ``long`` (evaluated at call time)."""
    try:
        return settings.get_current_profile_name() == "long"
    except AttributeError:  # pragma: no cover - hypothesis < 6.100
        return settings.default.max_examples >= 1000


def max_length() -> int:
    """Largest kernel length property tests should draw: 256 (ci) or 1024 (long)."""
    return 1024 if is_long_profile() else 256


def lengths(min_value: int = 1, max_value: int | None = None) -> st.SearchStrategy[int]:
    """Kernel lengths in [min_value, max_value] (default max: :func:`max_length`).

    Biased towards the interesting small / power-of-two / odd values by mixing a few
    explicit choices with a uniform draw.
    """
    hi = max_length() if max_value is None else max_value
    specials = [v for v in (1, 2, 3, 7, 16, 64, 255, 256, 1000) if min_value <= v <= hi]
    uniform = st.integers(min_value, hi)
    return st.one_of(st.sampled_from(specials), uniform) if specials else uniform


def _log_uniform(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(math.log(lo), math.log(hi)).map(math.exp)


def _angle() -> st.SearchStrategy[float]:
    return st.floats(-math.pi, math.pi)


@st.composite
def _pole(draw, region: str, min_gap: float) -> complex:
    if region == "mixed":
        region = draw(st.sampled_from(_SINGLE_REGIONS))
    if region == "generic":
        rho, phi = draw(st.floats(0.05, 0.95)), draw(_angle())
    elif region == "near_unit":
        rho, phi = 1.0 - draw(_log_uniform(min_gap, 1e-2)), draw(_angle())
    elif region == "near_zero":
        rho = draw(st.floats(0.05, 1.0 - min_gap))
        phi = draw(st.sampled_from([-1.0, 1.0])) * draw(_log_uniform(1e-9, 1e-2))
    elif region == "near_pi":
        rho = draw(st.floats(0.05, 1.0 - min_gap))
        phi = draw(st.sampled_from([-1.0, 1.0])) * (math.pi - draw(_log_uniform(1e-9, 1e-2)))
    elif region == "small":
        rho, phi = draw(_log_uniform(1e-4, 1e-1)), draw(_angle())
    else:  # pragma: no cover - programming error in a test
        raise ValueError(f"region: expected one of {POLE_REGIONS}, got {region!r}")
    return complex(rho * math.cos(phi), rho * math.sin(phi))


def poles(n2: int, region: str = "mixed", min_gap: float = 1e-6) -> st.SearchStrategy[torch.Tensor]:
    """``(n2,)`` complex128 discrete poles with ``1 - |lam| >= min_gap`` (stable)."""
    return st.lists(_pole(region, min_gap), min_size=n2, max_size=n2).map(
        lambda zs: torch.tensor(zs, dtype=torch.complex128))


def _coefficients(n2: int) -> st.SearchStrategy[torch.Tensor]:
    part = st.floats(-2.0, 2.0)
    return st.lists(st.tuples(part, part), min_size=n2, max_size=n2).map(
        lambda ps: torch.tensor([complex(a, b) for a, b in ps], dtype=torch.complex128))


@dataclass(frozen=True)
class SSM:
    """One channel of a stable diagonal SSM (all complex128, shape ``(n2,)``).

    ``A``, ``B``, ``dt``, ``method`` are None when drawn with ``discretized=False``.
    """

    lam: torch.Tensor
    Bbar: torch.Tensor
    C: torch.Tensor
    A: torch.Tensor | None = None
    B: torch.Tensor | None = None
    dt: float | None = None
    method: str | None = None
    region: str = "mixed"

    @property
    def n2(self) -> int:
        return int(self.lam.shape[-1])

    @property
    def rho(self) -> float:
        """Spectral radius max |lam| (< 1)."""
        return float(self.lam.abs().max())

    @property
    def c(self) -> torch.Tensor:
        """Mode residues c_n = C_n Bbar_n."""
        return self.C * self.Bbar

    def numpy(self):
        """``(lam, c)`` as complex128 NumPy arrays, for brute-force references."""
        return self.lam.numpy().copy(), self.c.numpy().copy()


def _continuous_pole(lam: torch.Tensor, dt: float, method: str) -> torch.Tensor:
    if method == "zoh":
        return torch.log(lam) / dt
    return (2.0 / dt) * (lam - 1) / (lam + 1)


@st.composite
def stable_ssms(draw, max_n2: int = 8, region: str | None = None, min_gap: float = 1e-6,
                discretized: bool = True, methods=("zoh", "bilinear")) -> SSM:
    """A random stable SSM; see the module docstring.

    Args:
        max_n2: largest number of complex modes (drawn in 1..max_n2).
        region: one of :data:`POLE_REGIONS`, or None to draw the region too.
        min_gap: lower bound on 1 - |lam| (the smallest decay rate per step).
        discretized: draw continuous ``A, B, dt`` and discretize (True) or draw
            ``lam, Bbar`` directly (False).
        methods: discretizations to draw from.
    """
    n2 = draw(st.integers(1, max_n2))
    region = draw(st.sampled_from(POLE_REGIONS)) if region is None else region
    lam = draw(poles(n2, region, min_gap))
    C = draw(_coefficients(n2))
    if not discretized:
        return SSM(lam=lam, Bbar=draw(_coefficients(n2)), C=C, region=region)
    B = draw(_coefficients(n2))
    dt = draw(_log_uniform(1e-3, 1.0))
    method = draw(st.sampled_from(list(methods)))
    A = _continuous_pole(lam, dt, method)
    lam2, Bbar = discretize(A, B, dt, method)
    # rounding in the round trip can only move |lam| by ~1e-15, far inside min_gap
    assert bool((lam2.abs() < 1).all())
    return SSM(lam=lam2, Bbar=Bbar, C=C, A=A, B=B, dt=dt, method=method, region=region)


def random_ssm(n2: int, seed: int, rho_max: float = 0.95, batch=()) -> SSM:
    """A seeded (non-Hypothesis) stable SSM with poles of modulus <= rho_max, for unit
    tests that want plain fixed data. ``batch`` prepends leading dimensions."""
    rng = np.random.default_rng(seed)
    shape = (*batch, n2)
    rho = rng.uniform(0.1, rho_max, shape)
    phi = rng.uniform(-np.pi, np.pi, shape)
    lam = torch.tensor(rho * np.exp(1j * phi), dtype=torch.complex128)
    Bbar = torch.tensor(rng.normal(size=shape) + 1j * rng.normal(size=shape), dtype=torch.complex128)
    C = torch.tensor(rng.normal(size=shape) + 1j * rng.normal(size=shape), dtype=torch.complex128)
    return SSM(lam=lam, Bbar=Bbar, C=C, region="generic")



# ----------------------------------------------------------------------------- bad input (test_fuzz.py)
#
# A fuzz case is a :class:`Case`: the keyword arguments of one call, what the call must do
# (``expect``: "ok" = return a finite, correctly shaped result; "error" = raise a clean error;
# "either" = one of the two, e.g. finite values so large that the result may overflow) and the
# argument names an error message may lead with.

NAN, INF = float("nan"), float("inf")
#: The size limit of ``ssm_tdi._validate`` (lengths, channel counts, products of sizes).
MAX_SIZE = 2**31 - 1


def uniform_index(n: int) -> st.SearchStrategy[int]:
    """An index in [0, n), close to uniform. Hypothesis favours small integers and the first
    elements of ``sampled_from`` (good for shrinking, bad for spreading a fuzz budget over many
    kinds of bad input); a wide random integer through a multiplicative hash is near uniform."""
    return st.integers(0, 2**32 - 1).map(lambda k: ((k * 2654435761) % 2**32) * n >> 32)


def pick(options) -> st.SearchStrategy:
    """``sampled_from`` with a near-uniform choice (see :func:`uniform_index`)."""
    options = list(options)
    return uniform_index(len(options)).map(lambda i: options[i])


@dataclass(frozen=True)
class Case:
    label: str
    expect: str
    names: tuple
    args: dict


def bad_sizes(minimum: int = 1) -> st.SearchStrategy:
    """Values that are never a valid integer size >= minimum: too small, absurdly large,
    or not an integer at all (floats, bool, None, strings, complex, arrays)."""
    return st.one_of(
        st.integers(-10**6, minimum - 1),
        st.integers(MAX_SIZE + 1, 10**30),
        st.sampled_from([2.0, 2.5, NAN, INF, True, False, None, "8", 3j, [4], np.float64(4.0)]),
    )


def bad_reals(allow_zero: bool = False) -> st.SearchStrategy:
    """Values that are never a valid finite real > 0 (>= 0 when allow_zero)."""
    pool = [NAN, INF, -INF, -1.0, -1e-300, 1j, 0.5 + 0.5j, "0.1", None, [0.1, 0.2], True]
    if not allow_zero:
        pool.append(0.0)
    return st.sampled_from(pool)


def bad_choice(valid: tuple) -> st.SearchStrategy:
    """Something that is not one of the string options ``valid``."""
    return st.sampled_from([None, 0, "", "nope", [valid[0]], valid[0].upper() + "_", (valid[0],), b"x"])


#: How :func:`corrupt_array` damages an array, and whether the result must be an error.
CORRUPTIONS = {
    "nan": "error", "inf": "error", "-inf": "error", "complex": "error", "strings": "error",
    "none": "error", "ragged": "error", "objects": "error",
    "huge": "either", "tiny": "either", "int": "either", "bool": "either", "scalar": "either",
    "empty": "either", "extra_dim": "either", "drop_dim": "either", "list": "either",
}


@st.composite
def corrupt_array(draw, x: torch.Tensor, real: bool = True, kinds=None):
    """(value, expect, label): ``x`` damaged in one of the ways of :data:`CORRUPTIONS`.

    Non-finite entries, complex values where real ones are expected, strings, None, ragged or
    object arrays must be rejected ("error"); the other changes (huge or tiny magnitudes,
    integer / boolean dtypes, lost or extra dimensions, empty axes, plain lists) may be valid
    input and are marked "either".
    """
    options = sorted(kinds or CORRUPTIONS)
    if not real and "complex" in options:
        options.remove("complex")
    kind = draw(pick(options))
    x = x.detach().clone()
    flat = x.reshape(-1)
    i = draw(st.integers(0, max(flat.numel() - 1, 0)))
    if kind in ("nan", "inf", "-inf"):
        if flat.numel() == 0:
            return [NAN], "error", kind
        v = {"nan": NAN, "inf": INF, "-inf": -INF}[kind]
        flat[i] = complex(v, 0) if x.is_complex() else v
        out = flat.reshape(x.shape)
    elif kind == "complex":
        out = x.to(torch.complex128) + 1j
    elif kind == "strings":
        out = np.full(tuple(x.shape) or (1,), "1.0")
    elif kind == "none":
        out = None
    elif kind == "ragged":
        out = [[1.0, 2.0], [3.0]]
    elif kind == "objects":
        out = np.array([{"a": 1}, None], dtype=object)
    elif kind == "huge":
        out = x.to(torch.complex128 if x.is_complex() else torch.float64) * 1e300 + 1e300
    elif kind == "tiny":
        out = x.to(torch.complex128 if x.is_complex() else torch.float64) * 1e-310
    elif kind == "int":
        out = (x.real if x.is_complex() else x).round().to(torch.int64)
    elif kind == "bool":
        out = (x.real if x.is_complex() else x) > 0
    elif kind == "scalar":
        out = flat[0].item() if flat.numel() else 1.0
    elif kind == "empty":
        out = x[..., :0]
    elif kind == "extra_dim":
        out = x.unsqueeze(0).expand(2, *x.shape)
    elif kind == "drop_dim":
        out = flat[: max(1, flat.numel() // 2)] if x.dim() < 2 or x.shape[0] == 0 else x[0]
    else:  # "list"
        out = x.tolist()
    return out, CORRUPTIONS[kind], kind
