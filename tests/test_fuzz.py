"""Hardened inputs: property-based fuzzing of the public API and the ``ssm-tdi`` CLI with bad input.

Every fuzz test draws a :class:`strategies.Case` (a valid call, or one argument damaged: NaN/inf,
empty or length-1 arrays, ints / bools / complex where reals are expected, wrong ranks and shapes,
negative or absurd sizes, all-zero and single-bin spectra, unstable poles, missing and corrupt
files) and checks the one rule of the library: the call either returns a finite, correctly shaped
result, or raises ``ValueError`` / ``TypeError`` / ``FileNotFoundError`` whose message leads with
the name of the offending argument (:func:`assert_clean_error`). Never a traceback from inside
torch / numpy / scipy, never a silent NaN or inf, never a partial output file. Cases drawn as
certainly bad (``expect="error"``) must raise; certainly valid ones (``"ok"``) must return.

The number of cases per function is counted (``fuzz_counter``, tests/conftest.py) and printed at
the end of the run; the last test asserts that at least 1000 TDI calls (tdi_init + apply_tdi) were
made in the default profile.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    CORRUPTIONS,
    INF,
    MAX_SIZE,
    NAN,
    Case,
    bad_choice,
    bad_reals,
    bad_sizes,
    corrupt_array,
    pick,
    uniform_index,
)

from ssm_tdi import cli, inits, kernels, learning_curves, operators, spectra, synthetic, tdi
from ssm_tdi.layers import DiagonalSSM
from ssm_tdi.models import DeepSSM
from ssm_tdi.training import TrainConfig, TrainResult, train

ALLOWED = (ValueError, TypeError, FileNotFoundError)
# tdi_init + apply_tdi calls the default run must make (the requirement)
MIN_TDI_CALLS = 1000


def budget(n: int):
    """settings with n examples (or the active profile's count if larger, e.g. ``long``)."""
    return settings(max_examples=max(n, settings.default.max_examples))


# ----------------------------------------------------------------------------- the rule
def _leading_names(msg: str) -> list[str]:
    """Argument names a message leads with: "A, dt: ..." -> [A, dt]. A wrapper such as
    apply_tdi's "layer 0 (input estimator, target S_task): " is skipped."""
    m = re.match(r"^(?:layer \d+ \(.+?\): )?([\w.\-]+(?:, [\w.\-]+)*): ", msg)
    return m.group(1).split(", ") if m else []


def assert_clean_error(exc: BaseException, argname) -> None:
    """``exc`` is an allowed exception type whose message leads with ``argname`` (or one of
    several names, for errors that depend on a combination of arguments)."""
    names = (argname,) if isinstance(argname, str) else tuple(argname)
    assert isinstance(exc, ALLOWED), f"not a clean error: {type(exc).__name__}: {exc}"
    msg = str(exc)
    lead = _leading_names(msg)
    assert any(n in lead for n in names), f"message does not lead with {names}: {type(exc).__name__}: {msg!r}"


def test_assert_clean_error_can_fail():
    assert_clean_error(ValueError("L: expected an integer >= 1, got 0"), "L")
    assert_clean_error(ValueError("lam, Bbar, C, L: the kernel overflows"), ("C",))
    assert_clean_error(ValueError("layer 0 (input estimator, target S_task^(1/2)): S_task: all zero"), "S_task")
    for exc, name in ((RuntimeError("L: bad"), "L"), (IndexError("L: bad"), "L"), (ValueError("bad L"), "L"),
                      (ValueError("got shape (n, L, d): bad"), "L"), (ZeroDivisionError("x"), "x")):
        with pytest.raises(AssertionError):
            assert_clean_error(exc, name)


def _finite(x) -> bool:
    if isinstance(x, torch.Tensor):
        return bool(torch.isfinite(x).all())
    return bool(np.all(np.isfinite(np.asarray(x))))


def fuzz(counter, fname: str, case: Case, thunk, check=None, also=()):
    """Call ``thunk``; enforce the rule for ``case``; count the outcome under ``fname``.

    ``also``: extra exception types a function documents (e.g. train's FloatingPointError).
    Returns the result, or None when the call was rejected.
    """
    try:
        out = thunk()
    except Exception as exc:
        if case.expect == "ok":
            raise AssertionError(f"{fname}: valid input ({case.label}) raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(exc, also):
            assert_clean_error(exc, case.names)
        counter.add(fname, valid=False)
        return None
    assert case.expect != "error", f"{fname}: bad input ({case.label}) was accepted; returned {out!r:.300}"
    if check is not None:
        check(out)
    counter.add(fname, valid=True)
    return out


def _pick(draw, valid: dict, bad: dict, p_valid: float = 0.3):
    """A Case: all of ``valid`` (expect ok) or one entry replaced from ``bad``:
    ``bad[name] = strategy of (value, expect, label)``; the error must name ``name``."""
    if draw(uniform_index(100)) < 100 * p_valid:
        return Case("valid", "ok", (), dict(valid))
    name = draw(pick(sorted(bad, key=str)))
    value, expect, label = draw(bad[name])
    names = name if isinstance(name, tuple) else (name,)
    args = dict(valid)
    args[names[0]] = value
    return Case(f"{names[0]}: {label}", expect, names, args)


def _err(strategy, expect: str = "error", label: str = "bad"):
    return strategy.map(lambda v: (v, expect, f"{label} {v!r:.40}"))


def _complex_modes(draw, n2: int, batch=(), rho=(0.05, 0.98), dtype=torch.complex128):
    shape = (*batch, n2)
    r = draw(st.lists(st.floats(*rho), min_size=math.prod(shape), max_size=math.prod(shape)))
    phi = draw(st.lists(st.floats(-math.pi, math.pi), min_size=len(r), max_size=len(r)))
    lam = torch.tensor([ri * complex(math.cos(p), math.sin(p)) for ri, p in zip(r, phi, strict=True)], dtype=dtype)
    return lam.reshape(shape)


def _coef(draw, shape, dtype=torch.complex128):
    n = math.prod(shape)
    re_ = draw(st.lists(st.floats(-2, 2), min_size=2 * n, max_size=2 * n))
    return torch.tensor([complex(a, b) for a, b in zip(re_[:n], re_[n:], strict=True)], dtype=dtype).reshape(shape)


# ----------------------------------------------------------------------------- kernels
@st.composite
def kernel_cases(draw):
    n2 = draw(st.integers(1, 3))
    batch = draw(st.sampled_from([(), (2,)]))
    dtype = draw(st.sampled_from([torch.complex128, torch.complex64]))
    lam = _complex_modes(draw, n2, batch, dtype=dtype)
    valid = {"lam": lam, "Bbar": _coef(draw, (n2,), dtype), "C": _coef(draw, (*batch, n2), dtype),
             "L": draw(st.integers(1, 64))}
    unstable = _complex_modes(draw, n2, batch, rho=(1.0, 1e6))
    bad = {
        "lam": st.one_of(corrupt_array(lam, real=False), st.just((unstable, "either", "unstable poles |lam| >= 1")),
                         st.just((lam * 0, "error", "zero pole"))),
        "Bbar": corrupt_array(valid["Bbar"], real=False),
        "C": st.one_of(corrupt_array(valid["C"], real=False),
                       st.just((torch.ones(n2 + 1, dtype=dtype), "error" if n2 > 1 else "either", "length N2+1"))),
        "L": _err(bad_sizes()),
    }
    case = _pick(draw, valid, bad)
    if case.names[:1] in (("Bbar",), ("C",), ("lam",)):  # shape errors name the three together
        case = Case(case.label, case.expect, (*case.names, "lam", "Bbar", "C"), case.args)
    return case


@budget(150)
@given(case=kernel_cases())
def _ssm_kernel_property(counter, case):
    a = case.args

    def check(K):
        shapes = [torch.as_tensor(np.asarray(a[k])).shape for k in ("lam", "Bbar", "C")]
        batch = torch.broadcast_shapes(*shapes)[:-1]
        assert K.shape == (*batch, a["L"]) and not K.is_complex() and _finite(K)
        if case.expect == "ok":  # K_0 = 2 Re sum_n C_n Bbar_n (complex64: rounding ~ 1e-6 of sum |c|)
            c = a["C"] * a["Bbar"]
            K0 = 2 * c.sum(-1).real
            assert torch.allclose(K[..., 0], K0.to(K.dtype), atol=1e-5 * (1 + float(c.abs().sum())))

    fuzz(counter, "kernels.ssm_kernel", case, lambda: kernels.ssm_kernel(a["lam"], a["Bbar"], a["C"], a["L"]), check)


def test_ssm_kernel(fuzz_counter):
    _ssm_kernel_property(fuzz_counter)


@st.composite
def response_cases(draw):
    n2 = draw(st.integers(1, 3))
    lam = _complex_modes(draw, n2)
    F = draw(st.integers(1, 9))
    omega = torch.tensor(draw(st.lists(st.floats(-10, 10), min_size=F, max_size=F)), dtype=torch.float64)
    valid = {"lam": lam, "Bbar": _coef(draw, (n2,)), "C": _coef(draw, (n2,)), "omega": omega,
             "L": draw(st.one_of(st.none(), st.integers(1, 64)))}
    unstable = _complex_modes(draw, n2, rho=(1.0, 1e3))
    bad = {
        "lam": st.one_of(corrupt_array(lam, real=False),
                         st.just((unstable, "either" if valid["L"] else "error", "unstable"))),
        "C": corrupt_array(valid["C"], real=False),
        "omega": st.one_of(corrupt_array(omega), st.just((omega * 1e300, "either", "huge omega"))),
        "L": _err(bad_sizes().filter(lambda v: v is not None)),
    }
    return _pick(draw, valid, bad)


def _response(counter, case, power: bool):
    a = case.args
    fn = kernels.power_response if power else kernels.frequency_response
    names = case.names + (("lam", "Bbar", "C") if case.names else ())
    case = Case(case.label, case.expect, names, a)

    def check(H):
        om = torch.as_tensor(np.asarray(a["omega"]))
        assert H.shape[-1] == (om.shape[-1] if om.dim() else 1)
        assert _finite(H) and (H.is_complex() != power)

    fuzz(counter, f"kernels.{fn.__name__}", case, lambda: fn(a["lam"], a["Bbar"], a["C"], a["omega"], a["L"]), check)


@budget(100)
@given(case=response_cases())
def _frequency_response_property(counter, case):
    _response(counter, case, power=False)


@budget(60)
@given(case=response_cases())
def _power_response_property(counter, case):
    _response(counter, case, power=True)


def test_frequency_and_power_response(fuzz_counter):
    _frequency_response_property(fuzz_counter)
    _power_response_property(fuzz_counter)


@st.composite
def discretize_cases(draw):
    n2 = draw(st.integers(1, 3))
    H = draw(st.integers(1, 2))
    re_ = torch.tensor(draw(st.lists(st.floats(0.01, 10), min_size=H * n2, max_size=H * n2)), dtype=torch.float64)
    im = torch.tensor(draw(st.lists(st.floats(-50, 50), min_size=H * n2, max_size=H * n2)), dtype=torch.float64)
    A = torch.complex(-re_, im).reshape(H, n2)
    dt = torch.tensor(draw(st.lists(st.floats(1e-3, 1.0), min_size=H, max_size=H)), dtype=torch.float64)[:, None]
    valid = {"A": A, "B": _coef(draw, (H, n2)), "dt": dt, "method": draw(st.sampled_from(["zoh", "bilinear"]))}
    bad = {
        "A": st.one_of(corrupt_array(A, real=False), st.just((-A, "either", "unstable A"))),
        "B": st.one_of(corrupt_array(valid["B"], real=False),
                       st.just((torch.ones(n2 + 1, dtype=torch.complex128), "error" if n2 > 1 else "either",
                                "shape"))),
        "dt": st.one_of(corrupt_array(dt, kinds=["nan", "inf", "complex", "strings", "none", "huge", "tiny", "list"]),
                        _err(st.sampled_from([NAN, INF, -1.0, 0.0, 1j, "0.1", None])),
                        st.just((-dt, "error", "negative dt")),
                        st.just((dt * 0, "error", "zero dt"))),
        "method": _err(bad_choice(("zoh", "bilinear"))),
    }
    case = _pick(draw, valid, bad)
    return Case(case.label, case.expect, case.names + (("A", "B", "dt") if case.names else ()), case.args)


@budget(120)
@given(case=discretize_cases())
def _discretize_property(counter, case):
    a = case.args

    def check(out):
        lam, Bbar = out
        assert lam.shape == Bbar.shape and _finite(lam) and _finite(Bbar)

    fuzz(counter, "kernels.discretize", case, lambda: kernels.discretize(a["A"], a["B"], a["dt"], a["method"]), check)


def test_discretize(fuzz_counter):
    _discretize_property(fuzz_counter)


# ----------------------------------------------------------------------------- operators
@st.composite
def operator_cases(draw):
    L = draw(st.integers(1, 10))
    batch = draw(st.sampled_from([(), (2,)]))
    K = torch.tensor(draw(st.lists(st.floats(-3, 3), min_size=L * math.prod(batch), max_size=L * math.prod(batch))),
                     dtype=torch.float64).reshape(*batch, L)
    r = draw(st.integers(1, L))
    W = torch.tensor(draw(st.lists(st.floats(-2, 2), min_size=L * r, max_size=L * r)), dtype=torch.float64)
    cov = (W.reshape(L, r) @ W.reshape(L, r).T)
    valid = {"K": K, "structure": draw(st.sampled_from(["toeplitz", "circulant"])),
             "input_cov": draw(st.sampled_from([None, cov]))}
    nonsym = cov.clone()
    nonsym[0, -1] += 1.0
    bad = {
        "K": corrupt_array(K),
        "structure": _err(bad_choice(("toeplitz", "circulant"))),
        "input_cov": st.one_of(
            corrupt_array(cov, kinds=[k for k in CORRUPTIONS if k != "none"]),  # None is valid: white input
            st.just((nonsym, "error" if L > 1 else "either", "not symmetric")),
            st.just((cov - 10 * torch.eye(L, dtype=torch.float64), "error", "not PSD")),
            st.just((torch.eye(L + 1, dtype=torch.float64), "error", "wrong size"))),
    }
    case = _pick(draw, valid, bad)
    extra = {"input_cov": ("K",), "K": ("input_cov",)}.get(case.names[0], ()) if case.names else ()
    return Case(case.label, case.expect, case.names + extra, case.args)


@pytest.mark.parametrize("fn", ["toeplitz", "induced_kernel_spectrum", "induced_kernel_eig"])
@budget(70)
@given(case=operator_cases())
def test_operators(fuzz_counter, fn, case):
    a = case.args
    if fn == "toeplitz":
        if case.names[:1] in (("structure",), ("input_cov",)):
            case = Case("valid", "ok", (), a)
        K = torch.as_tensor(np.asarray(a["K"])) if case.expect == "ok" else None

        def check(T):
            assert T.shape[-2:] == (T.shape[-1], T.shape[-1]) and _finite(T)
            if K is not None:
                assert torch.equal(T[..., :, 0], K)  # first column is the kernel

        fuzz(fuzz_counter, "operators.toeplitz", case, lambda: operators.toeplitz(a["K"]), check)
        return
    f = getattr(operators, fn)

    def check(out):
        eta = out[0] if fn == "induced_kernel_eig" else out
        assert _finite(eta) and eta.shape[-1] == torch.as_tensor(np.asarray(a["K"])).shape[-1]
        assert bool((eta[..., :-1] >= eta[..., 1:] - 1e-9 * (1 + eta.abs().max())).all())  # descending
        if case.expect == "ok" and a["structure"] == "circulant" and a["input_cov"] is None:
            # C1: the circulant's eigenvalues are exactly |DFT(K)|^2 (rounding ~ L eps max)
            ref = operators.dft_power(a["K"]).sort(dim=-1, descending=True).values
            assert torch.allclose(eta, ref, rtol=1e-9, atol=1e-9 * (1 + float(ref.abs().max())))

    fuzz(fuzz_counter, f"operators.{fn}", case, lambda: f(a["K"], a["structure"], a["input_cov"]), check)


# ----------------------------------------------------------------------------- spectra
@st.composite
def spectrum_cases(draw, estimator: str):
    n = draw(st.integers(1 if estimator != "discriminative" else 2, 4))
    L = draw(st.integers(2, 24))
    d = draw(st.sampled_from([None, 1, 2]))
    shape = (n, L) if d is None else (n, L, d)
    # any scale whose powers (|X|^2 L n, |X Y|^2 for transfer) stay far inside float64
    scale = 10.0 ** draw(st.integers(-60, 60))
    X = torch.tensor(draw(st.lists(st.floats(-1, 1), min_size=math.prod(shape), max_size=math.prod(shape))),
                     dtype=torch.float64).reshape(shape) * scale
    valid = {"X": X, "detrend": draw(st.booleans()), "reduce": draw(st.sampled_from([None, "mean"])),
             "grid_L": draw(st.sampled_from([None, 2, 7, 16]))}
    bad = {
        "X": st.one_of(corrupt_array(X), st.just((X[:0], "error", "no sequences")),
                       st.just((X[:, :1], "error", "L = 1")), st.just((X.reshape(-1), "error", "1-D"))),
        "detrend": _err(st.sampled_from(["no", 1, None, [True]])),
        "reduce": _err(st.sampled_from(["sum", [], 0, "MEAN"])),
        "grid_L": _err(st.one_of(bad_sizes(2).filter(lambda v: v is not None), st.just(1))),
    }
    if estimator == "input":
        valid["segments"] = draw(st.one_of(st.none(), st.integers(2, L)))
        bad["segments"] = _err(st.one_of(bad_sizes(2).filter(lambda v: v is not None), st.just(L + 1)))
    elif estimator == "transfer":
        Y = X.roll(1, dims=1) if draw(st.booleans()) else X.sum(dim=tuple(range(1, X.dim())))
        valid["Y"] = Y
        bad["Y"] = st.one_of(corrupt_array(Y, kinds=["nan", "inf", "complex", "strings", "none", "ragged", "huge",
                                                     "extra_dim", "drop_dim", "empty"]),
                             st.just((torch.cat([Y, Y]), "error", "wrong n")))
    else:
        k = draw(st.integers(2, 3))
        labels = np.array([i % k for i in range(n)]) if n >= 2 else np.array([0])
        valid["labels"] = labels
        bad["labels"] = st.sampled_from([
            (np.zeros(n), "error", "one class"), (labels[:, None], "error", "2-D"),
            (np.append(labels, 1), "error", "wrong length"), (np.array([np.nan] * n), "error", "NaN"),
            (np.array([None, 1] * n, dtype=object)[:n], "error", "objects"), ("ab", "error", "a string"),
            ([[0], [1, 2]] + [[0]] * (n - 2), "error", "ragged"),
            (np.array(["a", "b"] * n)[:n], "ok" if n >= 2 else "error", "string labels")])
        if n < 2:  # one sequence cannot have two classes: every case is an error
            valid = dict(valid)
    case = _pick(draw, valid, bad)
    if estimator == "discriminative" and n < 2 and case.expect == "ok":
        case = Case("one sequence", "error", ("labels",), case.args)
    if case.names[:1] in (("X",), ("Y",)):  # X's shape must match Y's / the labels'
        case = Case(case.label, case.expect, case.names + ("X", "Y", "labels"), case.args)
    return case


@pytest.mark.parametrize("estimator", ["input", "transfer", "discriminative"])
@budget(80)
@given(data=st.data())
def test_spectrum_estimators(fuzz_counter, estimator, data):
    case = data.draw(spectrum_cases(estimator))
    a = dict(case.args)
    X = a.pop("X")
    if estimator == "input":
        call = lambda: spectra.input_spectrum(X, **a)  # noqa: E731
    elif estimator == "transfer":
        Y = a.pop("Y")
        call = lambda: spectra.transfer_spectrum(X, Y, **a)  # noqa: E731
    else:
        labels = a.pop("labels")
        call = lambda: spectra.discriminative_spectrum(X, labels, **a)  # noqa: E731

    def check(S):
        assert S.dtype == torch.float64 and S.dim() in (1, 2) and _finite(S) and bool((S >= 0).all())
        if a.get("grid_L"):
            assert S.shape[-1] == a["grid_L"] // 2 + 1
        if estimator == "discriminative":
            assert bool((S <= 1).all())
        if case.expect == "ok" and estimator == "input" and not a.get("segments") and not a.get("grid_L") \
                and not a["detrend"] and X.dim() == 2:
            # S(0) = mean_i (sum_t x_it)^2 / L exactly (the DC bin of the mean periodogram)
            ref = float((X.sum(1) ** 2).mean() / X.shape[1])
            assert math.isclose(float(S[0]), ref, rel_tol=1e-9, abs_tol=1e-300)

    fuzz(fuzz_counter, f"spectra.{estimator}_spectrum", case, call, check)


@st.composite
def loss_cases(draw):
    F = draw(st.integers(1, 9))
    batch = draw(st.sampled_from([(), (2,)]))
    vals = st.lists(st.floats(0, 1), min_size=F * math.prod(batch), max_size=F * math.prod(batch))
    Sm = torch.tensor(draw(vals), dtype=torch.float64).reshape(*batch, F) + 1e-3
    St = torch.tensor(draw(vals), dtype=torch.float64).reshape(*batch, F)
    St[..., draw(st.integers(0, F - 1))] = 10.0 ** draw(st.integers(-300, 300))
    valid = {"S_model": Sm * 10.0 ** draw(st.integers(-300, 300)), "S_task": St}
    bad = {
        "S_model": st.one_of(corrupt_array(Sm), st.just((-Sm, "error", "negative")),
                             st.just((Sm * 0, "error", "all zero")),
                             st.just((torch.ones(F + 1), "error", "F mismatch"))),
        "S_task": st.one_of(corrupt_array(St), st.just((St * 0, "error", "all zero"))),
    }
    case = _pick(draw, valid, bad)
    return Case(case.label, case.expect, case.names + (("S_model", "S_task") if case.names else ()), case.args)


@budget(120)
@given(case=loss_cases())
def _loss_property(counter, case):
    a = case.args

    def check(v):
        assert _finite(v) and bool((v >= -1e-12).all() and (v <= 2 + 1e-9).all())  # in [0, 2] up to rounding

    fuzz(counter, "spectra.spectral_matching_loss", case,
         lambda: spectra.spectral_matching_loss(a["S_model"], a["S_task"]), check)


def test_spectral_matching_loss(fuzz_counter):
    _loss_property(fuzz_counter)


@st.composite
def interp_cases(draw):
    M = draw(st.integers(2, 20))
    F = M // 2 + 1
    S = torch.tensor(draw(st.lists(st.floats(0, 5), min_size=F, max_size=F)), dtype=torch.float64)
    valid = {"S": S, "grid_L": draw(st.integers(2, 40)), "M": M if M % 2 else draw(st.sampled_from([None, M]))}
    bad = {
        "S": st.one_of(corrupt_array(S), st.just((S[:1], "error", "one bin"))),
        "grid_L": _err(st.one_of(bad_sizes(2), st.just(1))),
        "M": _err(st.one_of(bad_sizes().filter(lambda v: v is not None), st.just(2 * M + 3))),
    }
    case = _pick(draw, valid, bad)
    coupled = ("S", "M") if case.names[:1] in (("S",), ("M",)) else ()  # S's length must match M
    return Case(case.label, case.expect, case.names + coupled, case.args)


@budget(100)
@given(case=interp_cases())
def _interp_property(counter, case):
    a = case.args

    def check(out):
        assert out.shape[-1] == a["grid_L"] // 2 + 1 and _finite(out)
        S = torch.as_tensor(np.asarray(a["S"]), dtype=torch.float64)
        assert float(out.min()) >= float(S.min()) - 1e-12 and float(out.max()) <= float(S.max()) + 1e-12

    fuzz(counter, "spectra.interpolate_spectrum", case,
         lambda: spectra.interpolate_spectrum(a["S"], a["grid_L"], a["M"]), check)


def test_interpolate_spectrum(fuzz_counter):
    _interp_property(fuzz_counter)


# ----------------------------------------------------------------------------- learning curves
@st.composite
def predict_cases(draw):
    M = draw(st.integers(1, 6))
    eta = np.array(draw(st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 10)), min_size=M, max_size=M)))
    a2 = np.array(draw(st.lists(st.floats(0, 3), min_size=M, max_size=M)))
    P = draw(st.one_of(st.floats(0, 100), st.lists(st.integers(0, 50), min_size=1, max_size=4)))
    valid = {"eigenvalues": eta, "target_power": a2, "P": P, "ridge": draw(st.sampled_from([0.0, 1e-3, 1.0])),
             "noise": draw(st.sampled_from([0.0, 0.1]))}
    t = torch.as_tensor
    bad = {
        "eigenvalues": st.one_of(corrupt_array(t(eta)), st.just((-eta - 1, "error", "negative")),
                                 st.just((np.append(eta, 1.0), "error", "shape mismatch"))),
        "target_power": st.one_of(corrupt_array(t(a2)), st.just((-a2 - 1, "error", "negative"))),
        "P": st.sampled_from([(-1, "error", "negative"), (NAN, "error", "nan"), (INF, "error", "inf"),
                              (3 + 1j, "error", "complex"), ("10", "error", "str"), (None, "error", "None"),
                              ([[1, 2]], "error", "2-D"), ([], "either", "empty"), (1e308, "either", "huge")]),
        "ridge": st.one_of(_err(bad_reals(allow_zero=True)), st.just((1e200, "either", "huge"))),
        "noise": st.one_of(_err(bad_reals(allow_zero=True)), st.just((1e200, "error", "noise**2 overflows"))),
    }
    case = _pick(draw, valid, bad)
    names = case.names + (("eigenvalues", "target_power") if case.names[:1] in (("eigenvalues",), ("target_power",))
                          else ())
    return Case(case.label, case.expect, names, case.args)


@budget(120)
@given(case=predict_cases())
def test_predict(fuzz_counter, case):
    a = case.args

    def check(E):
        E = np.atleast_1d(E)
        assert not np.any(np.isnan(E)) and np.all(E >= 0)
        assert np.all(np.isfinite(E)) or a["ridge"] == 0  # inf only where theory diverges (ridge 0)
        if case.expect == "ok" and np.ndim(a["P"]) == 0 and a["P"] == 0:
            assert E[0] == pytest.approx(float(np.sum(a["target_power"])), rel=1e-12)  # nothing learned at P = 0

    fuzz(fuzz_counter, "learning_curves.predict", case, lambda: learning_curves.predict(**a), check)


@st.composite
def kappa_cases(draw):
    M = draw(st.integers(1, 6))
    eta = np.array(draw(st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 10)), min_size=M, max_size=M)))
    valid = {"eta": eta, "P": draw(st.floats(0, 100)), "ridge": draw(st.sampled_from([0.0, 1e-3, 1.0]))}
    bad = {"eta": st.one_of(corrupt_array(torch.as_tensor(eta)), st.just((-eta - 1, "error", "negative")),
                            st.just((np.full(M, 1e308), "error", "sum overflows"))),
           "P": _err(st.sampled_from([-1.0, NAN, INF, 1j, "3", None, [1.0, 2.0], True])),
           "ridge": _err(bad_reals(allow_zero=True))}
    case = _pick(draw, valid, bad)
    names = case.names + (("eta", "ridge") if case.names[:1] in (("eta",), ("ridge",)) else ())
    return Case(case.label, case.expect, names, case.args)


@budget(100)
@given(case=kappa_cases())
def test_solve_kappa(fuzz_counter, case):
    a = case.args

    def check(k):
        assert isinstance(k, float) and k >= 0 and (math.isfinite(k) or a["P"] == 0)
        if case.expect == "ok" and a["ridge"] > 0 and a["P"] > 0:  # the self-consistency equation holds
            eta = a["eta"]
            rhs = a["ridge"] + k * np.sum(eta / (a["P"] * eta + k))
            assert k == pytest.approx(rhs, rel=1e-9)

    fuzz(fuzz_counter, "learning_curves.solve_kappa", case,
         lambda: learning_curves.solve_kappa(a["eta"], a["P"], a["ridge"]), check)


# ----------------------------------------------------------------------------- synthetic
@st.composite
def synthetic_cases(draw, fn: str):
    L = draw(st.integers(1, 16))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 99)))
    bands = draw(st.sampled_from(["low", "mid", "high", "two-band", [(0.0, 1.0)], [(2.0, 2.0), (0.1, 0.3)]]))
    bad_gen = _err(st.sampled_from([3, "gen", np.random.default_rng(0)]))
    bad_dtype = _err(st.sampled_from([torch.int64, torch.complex64, "float32", np.float64, None]))
    X = torch.randn(draw(st.integers(1, 4)), L, generator=gen, dtype=torch.float64)
    if fn == "band_mask":
        valid = {"L": L, "bands": bands}
        bad = {"L": _err(bad_sizes()), "bands": _err(st.sampled_from(["lowx", None, [(0, 4)], [(NAN, 1)], [], [1, 2]]))}
    elif fn == "band_limited_teacher":
        valid = {"L": L, "bands": bands, "generator": gen, "dtype": torch.float64}
        bad = {"L": _err(bad_sizes()), "generator": bad_gen, "dtype": bad_dtype}
    elif fn in ("ar1_covariance", "ar1_spectrum"):
        valid = {"L": L, "rho": draw(st.floats(-0.99, 0.99)), "dtype": draw(st.sampled_from([torch.float32,
                                                                                              torch.float64]))}
        bad = {"L": _err(bad_sizes()), "rho": _err(st.sampled_from([1.0, -1.0, NAN, INF, 1j, "0.5", None, 2])),
               "dtype": bad_dtype}
    elif fn == "sample_inputs":
        valid = {"P": draw(st.integers(0, 4)), "L": L, "rho": draw(st.floats(-0.9, 0.9)), "generator": gen}
        bad = {"P": _err(bad_sizes(0)), "L": _err(bad_sizes()), "rho": _err(st.sampled_from([1.0, NAN, "x"])),
               "generator": bad_gen, ("P", "L"): st.just((MAX_SIZE // 2, "error", "P * L too large"))}
        if L < 3:
            bad.pop(("P", "L"))
    elif fn == "filter_sequences":
        g = torch.randn(L, generator=gen, dtype=torch.float64)
        valid = {"g": g, "X": X}
        bad = {"g": st.one_of(corrupt_array(g), st.just((g[:-1] if L > 1 else g[:0], "error", "length"))),
               "X": st.one_of(corrupt_array(X), st.just((X[:, :0], "error", "L = 0")))}
    else:
        beta = torch.randn(L, generator=gen, dtype=torch.float64)
        valid = {"beta": beta, "X": X, "noise": draw(st.sampled_from([0.0, 0.5])), "generator": gen}
        bad = {"beta": corrupt_array(beta), "X": corrupt_array(X), "generator": bad_gen,
               "noise": _err(st.sampled_from([NAN, INF, -1.0, 1j, "1", None, [1.0, 2.0], torch.ones(2)]))}
    case = _pick(draw, valid, bad)
    names = case.names
    if fn in ("filter_sequences", "teacher_targets") and names[:1] in (("g",), ("X",), ("beta",)):
        names += ("g", "X", "beta")
    if fn == "sample_inputs" and names[:1] == ("P",):
        names += ("L",)
    return fn, Case(case.label, case.expect, names, case.args)


@pytest.mark.parametrize("fn", ["band_mask", "band_limited_teacher", "ar1_covariance", "ar1_spectrum",
                                "sample_inputs", "filter_sequences", "teacher_targets"])
@budget(40)
@given(data=st.data())
def test_synthetic_generators(fuzz_counter, fn, data):
    _, case = data.draw(synthetic_cases(fn))
    f = getattr(synthetic, fn)

    def check(out):
        assert isinstance(out, torch.Tensor) and _finite(out) and out.is_floating_point()
        if fn == "band_limited_teacher":
            assert math.isclose(float(out.norm()), 1.0, rel_tol=1e-12)  # documented ||beta|| = 1

    fuzz(fuzz_counter, f"synthetic.{fn}", case, lambda: f(**case.args), check)


# ----------------------------------------------------------------------------- inits
@st.composite
def init_cases(draw):
    name = draw(st.sampled_from(sorted(inits.INITS)))
    valid = {"name": name, "H": draw(st.integers(1, 3)), "N2": draw(st.integers(1, 4)),
             "generator": torch.Generator().manual_seed(draw(st.integers(0, 99)))}
    if name == "freqbias":
        valid["alpha"] = draw(st.floats(0.1, 10))
    bad = {"name": _err(st.sampled_from([None, "S4D-LIN", "nope", 3, ["s4d-lin"]]), label="name"),
           "H": _err(bad_sizes()), "N2": _err(bad_sizes()), "generator": _err(st.sampled_from([3, "g"])),
           ("H", "N2"): st.just((2**16, "error", "H * N2 too large"))}
    if name == "freqbias":
        bad["alpha"] = _err(st.sampled_from([None, 0.0, -1.0, NAN, INF, True, "4", 1e308]))
    if name == "random":
        valid["dt_max"] = draw(st.floats(1e-3, 1.0))
        bad["dt_max"] = _err(st.sampled_from([0.0, -1.0, NAN, 1e-320, "0.1", True]))
        bad["log_real_range"] = _err(st.sampled_from([(1.0, 0.0), (0.0, 1000.0), "ab", (1, 2, 3), None, (NAN, 0)]))
    case = _pick(draw, valid, bad)
    a = dict(case.args)
    if case.names[:1] == ("H",) and len(case.names) > 1:  # the product case: N2 also large
        a["N2"] = 2**16
    names = tuple("init" if n == "name" else n for n in case.names)
    return Case(case.label, case.expect, names, a)


@budget(120)
@given(case=init_cases())
def _init_property(counter, case):
    a = dict(case.args)

    def call():
        fn = inits.get_init(a.pop("name"))
        return fn(a.pop("H"), a.pop("N2"), **a)

    H, N2 = case.args["H"], case.args["N2"]

    def check(out):
        A, B, C = out
        assert A.shape == B.shape == C.shape == (H, N2)
        assert all(_finite(t) for t in out) and bool((A.real < 0).all())

    fuzz(counter, "inits.get_init", case, call, check)


def test_inits(fuzz_counter):
    _init_property(fuzz_counter)


# ----------------------------------------------------------------------------- layers and models
@st.composite
def layer_cases(draw):
    init = draw(st.sampled_from(["s4d-lin", "s4d-inv", "s4d-legs", "random", "freqbias"]))
    valid = {"d_model": draw(st.integers(1, 3)), "d_state": draw(st.sampled_from([2, 4, 6])), "init": init,
             "discretization": draw(st.sampled_from(["zoh", "bilinear"])),
             "dtype": draw(st.sampled_from([torch.float32, torch.float64])),
             "generator": torch.Generator().manual_seed(draw(st.integers(0, 99)))}
    if init == "freqbias":
        valid["alpha"] = 2.0
    bad = {
        "d_model": _err(bad_sizes()), "d_state": _err(st.one_of(bad_sizes(), st.just(3))),
        "init": _err(bad_choice(("s4d-lin", "random"))),
        "discretization": _err(bad_choice(("zoh", "bilinear"))),
        "dtype": _err(st.sampled_from([torch.int64, torch.complex64, "float32", None, np.float32])),
        "dt_min": st.one_of(_err(bad_reals()), st.sampled_from([(1e-320, "either", "subnormal"),
                                                                 (1e300, "error", "above dt_max")])),
        "dt_max": st.one_of(_err(bad_reals()), st.just((1e300, "either", "huge"))),
        "device": _err(st.sampled_from(["nope", "cuda:99" if torch.cuda.is_available() else "cuda", 3.5])),
        "generator": _err(st.sampled_from([5, "g"])),
        "init_kwargs": _err(st.just("foo"), label="unknown option"),
        ("d_model", "d_state"): st.just((2**16, "error", "too many modes")),
    }
    case = _pick(draw, valid, bad, p_valid=0.5)
    a = dict(case.args)
    names = case.names
    if "init_kwargs" in a:
        a.pop("init_kwargs")
        a["foo"] = 1
    if names == ("d_model", "d_state"):
        a["d_state"] = 2**17
    if names[:1] in (("dt_min",), ("dt_max",)):
        names = ("dt_min", "dt_max")
        if names and a.get("dt_max", 0.1) == 1e300 and case.expect == "either":
            a["dt_min"] = 1e299
    if names[:1] == ("init",):
        names = ("init", "alpha")
    return Case(case.label, case.expect, names, a)


@st.composite
def forward_inputs(draw, H: int):
    B, L = draw(st.integers(0, 3)), draw(st.integers(1, 40))
    u = torch.tensor(draw(st.lists(st.floats(-3, 3), min_size=B * L * H, max_size=B * L * H)),
                     dtype=torch.float64).reshape(B, L, H)
    if draw(st.booleans()):
        return Case("valid", "ok", (), {"u": u})
    kinds = st.one_of(corrupt_array(u), st.sampled_from([
        (u[:, :0], "error", "L = 0"), (u.reshape(-1, H), "error", "2-D"),
        (torch.ones(1, 4, H + 1), "error", "channels"), (u.to(torch.float32) * 3e38, "either", "near float max")]))
    value, expect, label = draw(kinds)
    return Case(label, expect, ("u",), {"u": value})


@budget(150)
@given(case=layer_cases(), data=st.data())
def _layer_property(counter, case, data):
    layer = fuzz(counter, "layers.DiagonalSSM", case, lambda: DiagonalSSM(**case.args),
                 lambda m: all(_finite(p) for p in m.parameters()))
    if layer is None:
        return
    fc = data.draw(forward_inputs(layer.d_model))

    def check(y):
        u = torch.as_tensor(np.asarray(fc.args["u"], dtype=np.float64))
        assert y.shape == u.shape and _finite(y) and y.dtype == layer.log_dt.dtype

    fuzz(counter, "layers.DiagonalSSM.forward", fc, lambda: layer(fc.args["u"]), check)


def test_diagonal_ssm(fuzz_counter):
    _layer_property(fuzz_counter)


@st.composite
def model_cases(draw):
    tokens = draw(st.booleans())
    valid = {"d_input": draw(st.integers(1, 2)), "d_output": draw(st.integers(1, 3)),
             "d_model": draw(st.integers(1, 2)), "d_state": draw(st.sampled_from([2, 4])),
             "n_layers": draw(st.integers(1, 2)), "task": draw(st.sampled_from(["classification", "regression"])),
             "seed": draw(st.integers(0, 2**63 - 1)), "dtype": draw(st.sampled_from([torch.float32, torch.float64]))}
    if tokens:
        valid["vocab_size"] = draw(st.integers(1, 5))
    bad = {
        **{k: _err(bad_sizes()) for k in ("d_input", "d_output", "d_model", "n_layers")},
        "d_state": _err(st.one_of(bad_sizes(), st.just(5))),
        "task": _err(bad_choice(("classification", "regression"))),
        "dropout": _err(st.sampled_from([-0.1, 1.0, NAN, "0.1", True, None])),
        "vocab_size": _err(bad_sizes().filter(lambda v: v is not None)),
        "seed": _err(st.sampled_from([-1, 2**64, 1.5, "0", True])),
        "generator": _err(st.sampled_from([5, "g"])),
        "init_kwargs": _err(st.sampled_from([[1, 2], "alpha", 3])),
        "dtype": _err(st.sampled_from([torch.int32, "float64", None])),
    }
    case = _pick(draw, valid, bad, p_valid=0.5)
    a = dict(case.args)
    if "generator" in a:
        a.pop("seed")
    return Case(case.label, case.expect, case.names + (("init",) if case.names == ("d_state",) else ()), a)


@st.composite
def model_inputs(draw, model):
    B, L = draw(st.integers(0, 3)), draw(st.integers(1, 12))
    if model.vocab_size is not None:
        x = torch.tensor(draw(st.lists(st.integers(0, model.vocab_size - 1), min_size=B * L, max_size=B * L)),
                         dtype=torch.long).reshape(B, L)
        bad_x = st.sampled_from([(x.float(), "error", "float tokens"), (x - 10, "error" if B else "either", "neg"),
                                 (x.unsqueeze(-1), "error", "3-D"), (x + model.vocab_size, "either", "range"),
                                 (None, "error", "None"), ("abc", "error", "str")])
    else:
        shape = (B, L, model.d_input)
        x = torch.tensor(draw(st.lists(st.floats(-2, 2), min_size=math.prod(shape), max_size=math.prod(shape))),
                         dtype=torch.float64).reshape(shape)
        bad_x = st.one_of(corrupt_array(x), st.just((torch.ones(1, L, model.d_input + 1), "error", "d_input")))
    mask = torch.ones(B, L, dtype=torch.bool)
    valid = {"x": x, "mask": draw(st.sampled_from([None, mask]))}
    bad = {"x": bad_x,
           "mask": st.sampled_from([(mask.int(), "error", "int"), (mask[:, :-1], "error" if L > 1 else "either",
                                                                   "shape"), ("abc", "error", "str"),
                                    ([[True, None]], "error", "None inside"),
                                    (~mask, "error" if (B and model.task == "classification") else "either",
                                     "no valid position")])}
    case = _pick(draw, valid, bad, p_valid=0.4)
    coupled = ("mask",) if case.names == ("x",) else ()  # a reshaped x no longer matches the mask
    return Case(case.label, case.expect, case.names + coupled, case.args)


@budget(120)
@given(case=model_cases(), data=st.data())
def _model_property(counter, case, data):
    model = fuzz(counter, "models.DeepSSM", case, lambda: DeepSSM(**case.args),
                 lambda m: all(_finite(p) for p in m.parameters()))
    if model is None:
        return
    fc = data.draw(model_inputs(model))

    def check(out):
        x = torch.as_tensor(np.asarray(fc.args["x"]))
        want = (x.shape[0], model.d_output) if model.task == "classification" else (*x.shape[:2], model.d_output)
        assert out.shape == want and _finite(out)

    fuzz(counter, "models.DeepSSM.forward", fc, lambda: model(fc.args["x"], mask=fc.args["mask"]), check)


def test_deep_ssm(fuzz_counter):
    _model_property(fuzz_counter)


# ----------------------------------------------------------------------------- TDI
@st.composite
def task_spectra(draw, F: int):
    """A valid S_task row: random, flat, one bin, DC / Nyquist only, a band, or a steep decay,
    with exact zeros and any overall scale in 1e-300..1e300."""
    kind = draw(st.sampled_from(["random", "flat", "spike", "dc", "nyquist", "band", "decay"]))
    S = torch.zeros(F, dtype=torch.float64)
    if kind == "random":
        S = torch.tensor(draw(st.lists(st.floats(0, 1), min_size=F, max_size=F)), dtype=torch.float64)
        S[draw(st.integers(0, F - 1))] = 1.0
    elif kind == "flat":
        S += 1.0
    elif kind in ("spike", "dc", "nyquist"):
        S[{"dc": 0, "nyquist": F - 1}.get(kind, draw(st.integers(0, F - 1)))] = 1.0
    elif kind == "band":
        lo = draw(st.integers(0, F - 1))
        S[lo:draw(st.integers(lo + 1, F))] = 1.0
    else:
        S = torch.logspace(0, -draw(st.integers(1, 300)), F, dtype=torch.float64)
    return S * 10.0 ** draw(st.integers(-300, 300))


@st.composite
def tdi_layers(draw):
    return DiagonalSSM(draw(st.integers(1, 2)), draw(st.sampled_from([2, 4])),
                       init=draw(st.sampled_from(["s4d-lin", "s4d-inv", "random"])),
                       discretization=draw(st.sampled_from(["zoh", "bilinear"])),
                       dtype=draw(st.sampled_from([torch.float32, torch.float64])),
                       generator=torch.Generator().manual_seed(draw(st.integers(0, 999))))


@st.composite
def tdi_cases(draw):
    layer = draw(tdi_layers())
    H = layer.d_model
    L = draw(st.integers(2, 32))
    F = L // 2 + 1
    per_channel = draw(st.booleans())
    S = torch.stack([draw(task_spectra(F)) for _ in range(H)]) if per_channel else draw(task_spectra(F))
    method = draw(st.sampled_from(["fast", "fast", "gradient"]))
    valid = {"layer": layer, "S_task": S, "method": method, "L": L if L % 2 or draw(st.booleans()) else None,
             "seed": draw(st.integers(0, 2**63 - 1)), "diversity": draw(st.sampled_from(["phase", "none"])),
             "steps": draw(st.integers(0, 3)), "refine_steps": draw(st.integers(0, 5)),
             "backend": draw(st.sampled_from(["response", "fft"])), "gain": draw(st.sampled_from(["preserve", "unit"])),
             "n_phases": draw(st.integers(0, 4))}
    zero_row = S.clone().reshape(-1, F)
    zero_row[-1] = 0
    bad = {
        "layer": _err(st.sampled_from([None, "layer", 3]), label="layer"),
        "S_task": st.one_of(
            corrupt_array(S), st.sampled_from([
                (S * 0, "error", "all zero"), (zero_row.reshape(S.shape), "error", "a zero row"),
                (-S - 1, "error", "negative"), (S[..., :1], "error", "single bin"),
                (torch.ones(H + 1, F), "error", "wrong rows"), (S.reshape(1, 1, -1), "error", "3-D")])),
        "L": _err(st.one_of(bad_sizes().filter(lambda v: v is not None), st.just(L + 2))),
        "method": _err(bad_choice(("fast", "gradient"))),
        "seed": _err(st.sampled_from([-1, 2**64, 1.5, "0", None, True])),
        "lr": _err(bad_reals()), "tol": _err(bad_reals(allow_zero=True)),
        "floor": _err(st.sampled_from([0.0, -1e-6, 1.5, NAN, "1e-6", None])),
        "diversity_tol": _err(bad_reals(allow_zero=True)),
        "min_radius": _err(st.sampled_from([0.0, 1.0, -0.5, NAN, "0.1", None, 0.99999])),
        "max_radius": _err(st.sampled_from([1.0, 1e-4, NAN, "0.5", 2.0])),
        "steps": _err(bad_sizes(0)), "refine_steps": _err(bad_sizes(0)), "n_phases": _err(bad_sizes(0)),
        "diversity": _err(bad_choice(("phase", "none"))), "backend": _err(bad_choice(("response", "fft"))),
        "gain": _err(bad_choice(("preserve", "unit"))),
        "callback": _err(st.sampled_from([5, "print"])),
    }
    case = _pick(draw, valid, bad, p_valid=0.45)
    a = dict(case.args)
    names = case.names
    if names[:1] in (("min_radius",), ("max_radius",)):
        names = ("min_radius", "max_radius")
    if names[:1] == ("L",):
        names = ("L", "S_task")
    if names[:1] == ("S_task",):
        names = ("S_task", "L")
    return Case(case.label, case.expect, names, a)


def _check_report(rep, layer, L: int) -> None:
    H = layer.d_model
    assert isinstance(rep, tdi.TDIReport) and rep.H == H and rep.L == L
    for t in (rep.loss_before, rep.loss_after):
        assert t.shape == (H,) and _finite(t) and bool(((t >= -1e-12) & (t <= 2 + 1e-9)).all())
    assert bool((rep.loss_after <= rep.loss_before).all())  # documented: TDI never makes L_spec worse
    fields = (rep.loss_before_mean, rep.loss_after_mean, rep.seconds, rep.max_abs_lam, rep.dt_min, rep.dt_max,
              rep.kernel_cosine, *rep.residue_ratio)
    assert all(math.isfinite(v) for v in fields), rep.summary()
    assert rep.max_abs_lam <= 1.0 and isinstance(rep.summary(), str)
    assert all(_finite(p) for p in layer.parameters()) and _finite(layer.kernel(L))


@budget(620)
@given(case=tdi_cases())
def _tdi_init_property(counter, case):
    a = dict(case.args)
    layer = a.pop("layer")
    before = {k: v.clone() for k, v in layer.state_dict().items()} if isinstance(layer, DiagonalSSM) else None
    rep = fuzz(counter, "tdi.tdi_init", case, lambda: tdi.tdi_init(layer, a.pop("S_task"), **a),
               lambda r: _check_report(r, layer, r.L))
    if rep is None and before is not None:  # a rejected call leaves the layer untouched
        assert all(torch.equal(before[k], v) for k, v in layer.state_dict().items())


def test_tdi_init(fuzz_counter):
    _tdi_init_property(fuzz_counter)
    fuzz_counter.finished.add("tdi_init")


@st.composite
def apply_cases(draw):
    tokens = draw(st.integers(0, 4)) == 0
    d_in = draw(st.integers(1, 2))
    # d_model = 2: a LayerNorm over a single feature outputs 0, so a d_model = 1 layer input has no spectrum
    model = DeepSSM(d_in, 2, d_model=2, d_state=draw(st.sampled_from([2, 4])),
                    n_layers=draw(st.integers(1, 2)), vocab_size=5 if tokens else None,
                    seed=draw(st.integers(0, 999)), task="classification")
    n, L = draw(st.integers(2, 6)), draw(st.integers(2, 16))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 999)))
    if tokens:
        X = torch.randint(0, 5, (n, L), generator=gen)
    else:
        X = torch.randn(n, L, d_in, generator=gen, dtype=torch.float64)
        X = X[..., 0] if d_in == 1 and draw(st.booleans()) else X
    estimator = draw(st.sampled_from(["input", "transfer", "discriminative"]))
    valid = {"model": model, "X": X, "estimator": estimator,
             "layers": draw(st.sampled_from(["first", "per-layer", "composite"])),
             "source": draw(st.sampled_from(["data", "layer"])), "seed": draw(st.integers(0, 2**62)),
             "max_samples": draw(st.sampled_from([None, 2, 512])),
             "segments": draw(st.sampled_from([None, 2])), "refine_steps": draw(st.integers(0, 3)),
             "method": draw(st.sampled_from(["fast", "fast", "gradient"])), "steps": 2}
    if estimator == "transfer":
        valid["y"] = torch.randn(n, L, generator=gen, dtype=torch.float64)
    if estimator == "discriminative":  # (a random subset of 2 rows may hold one class: no max_samples = 2)
        valid["labels"] = np.arange(n) % 2
        valid["segments"] = None
        valid["max_samples"] = None
    bad = {
        "model": _err(st.sampled_from([None, "model", DiagonalSSM(2, 2)]), label="model"),
        "X": st.one_of(corrupt_array(X.double()) if not tokens else st.just((X.float() + 0.5, "error", "float ids")),
                       st.just((X[:, :1], "error", "L = 1")), st.just((X[:0], "error", "n = 0"))),
        "estimator": _err(bad_choice(("input", "transfer"))), "layers": _err(bad_choice(("first", "composite"))),
        "source": _err(bad_choice(("data", "layer"))),
        "seed": _err(st.sampled_from([-1, 2**64, "0", 1.5, None])),
        "max_samples": _err(st.sampled_from([0, -3, 2.5, "10", True])),
        "segments": _err(st.sampled_from([1, L + 1, "4", 2.0])),
        "mask": st.sampled_from([(torch.ones(n, L), "error", "float"), ("abc", "error", "str"),
                                 (torch.ones(n, L + 1, dtype=torch.bool), "error", "shape"),
                                 (torch.zeros(n, L, dtype=torch.bool), "error", "all padded")]),
    }
    if estimator == "transfer":
        bad["y"] = st.one_of(corrupt_array(valid["y"], kinds=["nan", "inf", "complex", "strings", "none", "ragged"]),
                             st.just((valid["y"][:, :1], "error", "wrong L")), st.just((None, "error", "missing")))
    if estimator == "discriminative":
        bad["labels"] = st.sampled_from([(np.zeros(n), "error", "one class"), (None, "error", "missing"),
                                         (np.arange(n + 1) % 2, "error", "length"),
                                         (np.array([None] * n, dtype=object), "error", "objects")])
    case = _pick(draw, valid, bad, p_valid=0.45)
    names = case.names
    if names[:1] == ("X",):  # X's shape must also match y, labels
        names = ("X", "x", "S_task", "y", "labels")
    if names[:1] in (("segments",), ("mask",)):
        names = (*names, "S_task", "X")
    if names[:1] == ("y",):
        names = ("y", "Y", "X")
    return Case(case.label, case.expect, names, case.args)


@budget(440)
@given(case=apply_cases())
def _apply_tdi_property(counter, case):
    a = dict(case.args)
    model = a.pop("model")

    def check(reports):
        assert isinstance(reports, list) and reports
        L = int(torch.as_tensor(np.asarray(case.args["X"])).shape[1])
        for r in reports:
            _check_report(r, model.ssm_layers[r.layer_index], L)

    fuzz(counter, "tdi.apply_tdi", case, lambda: tdi.apply_tdi(model, a.pop("X"), **a), check)


def test_apply_tdi(fuzz_counter):
    _apply_tdi_property(fuzz_counter)
    fuzz_counter.finished.add("apply_tdi")


# ----------------------------------------------------------------------------- training
@st.composite
def train_cases(draw):
    """(config case, data case or None): a bad TrainConfig field, or a valid config with bad data."""
    task = draw(st.sampled_from(["classification", "regression"]))
    model = DeepSSM(1, 2, d_model=2, d_state=2, n_layers=1, task=task, seed=draw(st.integers(0, 99)))
    n, L = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 99)))
    X = torch.randn(n, L, generator=gen)
    y = torch.randint(0, 2, (n,), generator=gen) if task == "classification" else torch.randn(n, L, 2, generator=gen)
    cfg = {"task": task, "epochs": draw(st.integers(0, 2)), "batch_size": draw(st.sampled_from([None, 1, 3])),
           "lr": draw(st.sampled_from([1e-3, 1e-2])), "seed": draw(st.integers(0, 99))}
    cfg_bad = {
        "task": _err(bad_choice(("regression", "classification"))), "epochs": _err(bad_sizes(0)),
        "batch_size": _err(st.sampled_from([0, -1, 1.5, "2", True])), "lr": _err(bad_reals()),
        "ssm_lr": _err(bad_reals()), "weight_decay": _err(bad_reals(allow_zero=True)),
        "patience": _err(st.sampled_from([0, -1, 1.5, "3"])), "seed": _err(st.sampled_from([-1, 2**64, "0"])),
        "grad_clip": _err(st.sampled_from([0.0, -1.0, NAN, "1"])),
    }
    data_bad = {
        "model": _err(st.sampled_from([None, "m"]), label="model"),
        "config": _err(st.sampled_from([{"epochs": 1}, None]), label="config"),
        "X": st.one_of(corrupt_array(X, kinds=["nan", "inf", "complex", "list", "none"]),
                       st.just((X[:0], "error", "n = 0")), st.just((torch.cat([X, X]), "error", "n mismatch"))),
        "y": st.one_of(corrupt_array(y.float(), kinds=["nan", "inf", "list"]),
                       st.just((y[..., :1] if task == "regression" else y + 5, "error", "shape / range"))),
        "X_val": st.just((X, "error", "X_val without y_val")),
        "lr": st.just((1e30, "either", "diverging lr")),
    }
    args = {"model": model, "X": X, "y": y}
    target = draw(st.sampled_from(["valid"] * 6 + sorted(cfg_bad) + sorted(data_bad)))
    if target == "valid":
        return Case("valid", "ok", (), cfg), Case("valid", "ok", (), args)
    if target in cfg_bad:
        v, e, lab = draw(cfg_bad[target])
        return Case(lab, e, (target,), {**cfg, target: v}), None
    v, e, lab = draw(data_bad[target])
    cfg = {**cfg, "epochs": 1}  # labels / targets are checked against the model's output: run one epoch
    if target == "lr":  # full batch, so a failure after the first step can only be divergence
        cfg = {**cfg, "lr": v, "ssm_lr": v, "batch_size": None, "epochs": 2}
    names = ("X_val", "y_val") if target == "X_val" else (target,)
    return Case("valid", "ok", (), cfg), Case(lab, e, names, {**args, target: v})


@budget(120)
@given(cc=train_cases())
def _train_property(counter, cc):
    cfg_case, case = cc
    config = fuzz(counter, "training.TrainConfig", cfg_case, lambda: TrainConfig(**cfg_case.args))
    if config is None or case is None:
        return
    a = dict(case.args)
    config = a.pop("config", config)
    kw = {"X_val": a.pop("X_val")} if "X_val" in a else {}
    a.pop("lr", None)

    def check(res):
        assert isinstance(res, TrainResult) and all(math.isfinite(v) for v in res.train_loss)
        assert all(_finite(p) for p in a["model"].parameters())

    fuzz(counter, "training.train", case, lambda: train(a["model"], a["X"], a["y"], config, **kw), check,
         also=(FloatingPointError,))


def test_training(fuzz_counter):
    _train_property(fuzz_counter)


# ----------------------------------------------------------------------------- CLI
def _write_data(d: Path, kind: str, rng) -> str:
    X = rng.standard_normal((6, 16))
    labels = np.arange(6) % 2
    writers = {
        "npy": lambda: np.save(d / "data.npy", X),
        "npz": lambda: np.savez(d / "data.npz", X=X, y=np.roll(X, 1, 1), labels=labels),
        "csv": lambda: np.savetxt(d / "data.csv", np.column_stack([X, labels]), delimiter=","),
        "nan": lambda: np.save(d / "data.npy", X * np.nan),
        "zeros": lambda: np.save(d / "data.npy", np.zeros((3, 8))),
        "huge": lambda: np.save(d / "data.npy", X * 1e300),
        "1d": lambda: np.save(d / "data.npy", X[0]),
        "short": lambda: np.save(d / "data.npy", X[:, :1]),
        "complex": lambda: np.save(d / "data.npy", X + 1j),
        "strings": lambda: np.save(d / "data.npy", np.array([["a", "b"]])),
        "corrupt": lambda: (d / "data.npy").write_bytes(b"\x93NUMPY\x01\x00garbage"),
        "empty": lambda: (d / "data.csv").write_text(""),
        "text": lambda: (d / "data.csv").write_text("a,b\n1,2\n"),
        "ragged": lambda: (d / "data.csv").write_text("1,2,3\n1,2\n"),
        "zip": lambda: (d / "data.npz").write_bytes(b"PK\x03\x04garbage"),
        "nokey": lambda: np.savez(d / "data.npz", Z=X),
        "badlabels": lambda: np.savez(d / "data.npz", X=X, labels=np.zeros(6)),
        "cplxy": lambda: np.savez(d / "data.npz", X=X, y=X * 1j),
        "missing": lambda: None,
        "dir": lambda: (d / "data.npy").mkdir(),
        "txt": lambda: (d / "data.txt").write_text("1 2 3"),
    }
    writers[kind]()
    suffix = {"npz": "npz", "zip": "npz", "nokey": "npz", "badlabels": "npz", "cplxy": "npz", "csv": "csv",
              "empty": "csv", "text": "csv", "ragged": "csv", "txt": "txt"}.get(kind, "npy")
    return str(d / f"data.{suffix}")


@st.composite
def cli_cases(draw):
    command = draw(st.sampled_from(["spectrum", "init", "export"]))
    data = draw(st.sampled_from(["npy", "npy", "npz", "csv"] * 3 + ["nan", "zeros", "huge", "1d", "short", "complex",
                                                                    "strings", "corrupt", "empty", "text", "ragged",
                                                                    "zip", "nokey", "badlabels", "cplxy", "missing",
                                                                    "dir", "txt"]))
    opts, names = [], ["DATA", "argument"]  # argparse's own errors: "argument --d-model: invalid int value"
    estimator = draw(st.sampled_from(["input", "transfer", "discriminative"]))
    if data in ("npz", "badlabels", "cplxy") or (data == "csv" and estimator == "discriminative"):
        opts += ["--estimator", estimator]
        names += ["labels", "y", "--estimator"]
        if data == "csv":
            opts += ["--label-column", "-1"]
    extra = draw(st.sampled_from(["none"] * 6 + ["welch", "out-dir", "out-under-file", "plot-type", "argparse",
                                                 "d-model", "d-state", "seed", "base-init", "method"]))
    if extra == "welch":
        opts += ["--welch", str(draw(st.sampled_from([0, 1, 4, 99, 10**20])))]
        names += ["--welch"]
    if command == "init":
        dm = str(draw(st.integers(1, 2))) if extra != "d-model" else draw(st.sampled_from(["0", "-3", "x", "10**9",
                                                                                          str(10**12)]))
        ds = draw(st.sampled_from(["2", "4"])) if extra != "d-state" else draw(st.sampled_from(["3", "0", "1e3"]))
        opts += ["--d-model", dm, "--d-state", ds, "--method", "fast" if extra != "method" else "adam"]
        names += ["--d-model", "--d-state", "--method"]
        if extra == "seed":
            opts += ["--seed", draw(st.sampled_from(["-1", str(2**70), "x"]))]
            names += ["--seed"]
        if extra == "base-init":
            opts += ["--base-init", draw(st.sampled_from(["nope", "freqbias", "s4d-inv"]))]
            names += ["--base-init"]
        if draw(st.booleans()):
            opts += ["--quiet"]
        if draw(st.booleans()):
            opts += ["--export-s4d", "{d}/e.pt"]
    if extra == "plot-type" and command != "export":
        opts += ["--plot", "{d}/p." + draw(st.sampled_from(["xyz", "png"]))]
        names += ["--plot"]
    if extra == "argparse":
        opts += [draw(st.sampled_from(["--bogus", "--estimator=nope", "--x-key"]))]
        names += ["argument", "unrecognized arguments"]
    out = {"out-dir": "{d}/adir", "out-under-file": "{d}/afile/o.npy"}.get(extra, "{d}/out.bin")
    names += ["--out"]
    return command, data, opts, out, tuple(names)


@budget(150)
@given(cc=cli_cases(), seed=st.integers(0, 99))
def _cli_property(counter, cc, seed):
    command, data, opts, out, names = cc
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "adir").mkdir()
        (d / "afile").write_text("x")
        path = _write_data(d, data, np.random.default_rng(seed))
        if command == "export":  # its input: a parameter file from `init`, or a damaged one
            params = d / "params.pt"
            kind = data
            if kind in ("npy", "npz", "csv"):
                with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
                    assert cli.main(["init", path, "--d-model", "2", "--d-state", "2", "--out", str(params),
                                     "--quiet"]) == 0
                if seed % 3 == 0:  # damage it: NaN parameters, a missing key, or garbage
                    state = torch.load(params, weights_only=True)
                    if seed % 2:
                        state["state_dict"]["C"] = state["state_dict"]["C"] * NAN
                    else:
                        del state["d_state"]
                    torch.save(state, params)
            elif kind != "missing":
                params.write_bytes(b"garbage" if seed % 2 else path.encode())
            argv = ["export", str(params)]
            names = ("PARAMS", "--out")
        else:
            argv = [command, path] + [o.format(d=d) for o in opts]
        argv += ["--out", out.format(d=d)]
        before = set(p.name for p in d.rglob("*"))
        err, stdout = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(stdout):
            try:
                rc = cli.main(argv)
            except SystemExit as exc:  # only --help may exit; it is never drawn
                raise AssertionError(f"{argv}: SystemExit({exc.code})") from exc
        after = set(p.name for p in d.rglob("*"))
        new = after - before
        lines = err.getvalue().strip().splitlines()
        if rc == 0:
            outp = Path(out.format(d=d))
            assert outp.is_file() and not any(n.startswith(".") for n in new), (argv, new)
            if command == "spectrum":
                with open(outp, "rb") as f:
                    S = np.load(f)
                assert S.ndim == 1 and np.all(np.isfinite(S)) and np.all(S >= 0)
            else:
                state = torch.load(outp, weights_only=True)
                tensors = state["state_dict"].values() if command == "init" else state.values()
                assert all(_finite(t) for t in tensors)
            counter.add(f"cli.{command}", valid=True)
            return
        assert rc == 2, (argv, rc, err.getvalue())
        assert len(lines) == 1 and "Traceback" not in err.getvalue(), (argv, err.getvalue())
        assert lines[0].startswith(f"ssm-tdi {command}: error: ") or lines[0].startswith("ssm-tdi: error: "), lines
        msg = lines[0].split(": error: ", 1)[1]
        assert any(n in _leading_names(msg) or msg.startswith(n) for n in names), (argv, msg)
        assert not new, f"{argv} failed but left {new}"  # no output, no temporary file
        counter.add(f"cli.{command}", valid=False)


def test_cli(fuzz_counter):
    _cli_property(fuzz_counter)


# ----------------------------------------------------------------------------- the count
def test_tdi_calls_counted(fuzz_counter):
    """At least MIN_TDI_CALLS fuzzed TDI calls (valid and bad mixed) ran in this session."""
    if not {"tdi_init", "apply_tdi"} <= fuzz_counter.finished:
        pytest.skip("the TDI fuzz tests did not run in this session (test selection)")
    n = fuzz_counter.total("tdi.tdi_init", "tdi.apply_tdi")
    assert n >= MIN_TDI_CALLS, f"only {n} TDI calls fuzzed"
    for name in ("tdi.tdi_init", "tdi.apply_tdi"):
        ok, bad = fuzz_counter.counts[name]
        assert ok >= 100 and bad >= 100, (name, ok, bad)  # both valid and rejected calls were exercised
