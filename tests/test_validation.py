"""Every ValueError path of the math core, and that each message names its argument.

Each case is ``(id, thunk, pattern)``: calling ``thunk()`` must raise ``ValueError``
whose message matches ``pattern`` (which always contains the argument's name).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ssm_tdi import _validate
from ssm_tdi.kernels import (
    discretize,
    frequency_response,
    mode_coefficients,
    power_response,
    rfft_grid,
    ssm_kernel,
)
from ssm_tdi.learning_curves import cumulative_power, cumulative_power_area, predict, solve_kappa
from ssm_tdi.operators import (
    circulant,
    circulant_trace,
    dft_power,
    induced_kernel_eig,
    induced_kernel_spectrum,
    toeplitz,
    toeplitz_circulant_gap,
    toeplitz_trace,
)

NAN, INF = float("nan"), float("inf")
LAM = torch.tensor([0.5 + 0.2j, -0.3 + 0.1j], dtype=torch.complex128)
BB = torch.tensor([1.0 + 0j, 0.5 - 1j], dtype=torch.complex128)
CC = torch.tensor([0.3 + 0.3j, 1.0 + 0j], dtype=torch.complex128)
A0 = torch.tensor([-0.5 + 1j, -0.2 + 3j], dtype=torch.complex128)
OM = torch.linspace(0, math.pi, 5, dtype=torch.float64)
K8 = torch.tensor([1.0, 0.5, 0.25, 0.1, 0.0, -0.1, 0.05, 0.01], dtype=torch.float64)
EYE8 = torch.eye(8, dtype=torch.float64)
ETA = np.array([2.0, 1.0, 0.5])
A2 = np.array([1.0, 0.5, 0.0])


def _with(t, idx, value):
    t = t.clone()
    t[idx] = value
    return t


def _nonsym():
    S = EYE8.clone()
    S[0, 1] = 0.5
    return S


def _nonpsd():
    S = EYE8.clone()
    S[0, 0] = -1.0
    return S


# ---------------------------------------------------------------------------- kernels

KERNEL_CASES = [
    # discretize: non-finite in each argument
    ("discretize-A-nan", lambda: discretize(_with(A0, 0, complex(NAN, 0)), BB, 0.1), r"^A: .*finite"),
    ("discretize-A-inf", lambda: discretize(_with(A0, 1, complex(0, INF)), BB, 0.1), r"^A: .*finite"),
    ("discretize-B-nan", lambda: discretize(A0, _with(BB, 0, complex(NAN, 1)), 0.1), r"^B: .*finite"),
    ("discretize-dt-nan", lambda: discretize(A0, BB, NAN), r"^dt: .*finite"),
    ("discretize-dt-inf", lambda: discretize(A0, BB, torch.tensor([0.1, INF])), r"^dt: .*finite"),
    ("discretize-dt-zero", lambda: discretize(A0, BB, 0.0), r"^dt: .*> 0"),
    ("discretize-dt-negative", lambda: discretize(A0, BB, torch.tensor([[0.1], [-0.1]])), r"^dt: .*> 0"),
    ("discretize-dt-complex", lambda: discretize(A0, BB, 0.1 + 0.1j), r"^dt: .*real"),
    ("discretize-dt-complex-tensor", lambda: discretize(A0, BB, torch.tensor([0.1 + 0j])),
     r"^dt: .*real"),
    ("discretize-A-strings", lambda: discretize(["a", "b"], BB, 0.1), r"^A: .*numbers"),
    ("discretize-B-ragged", lambda: discretize(A0, [[1.0, 2.0], [3.0]], 0.1), r"^B: "),
    ("discretize-shapes", lambda: discretize(A0, torch.ones(3, dtype=torch.complex128), 0.1),
     r"A, B, dt: .*broadcast"),
    ("discretize-dt-shape", lambda: discretize(A0, BB, torch.full((3,), 0.1)), r"A, B, dt: .*broadcast"),
    ("discretize-method", lambda: discretize(A0, BB, 0.1, method="euler"), r"^method: .*'euler'"),
    ("discretize-method-case", lambda: discretize(A0, BB, 0.1, method="ZOH"), r"^method: "),
    ("discretize-bilinear-singular",
     lambda: discretize(torch.tensor([2.0 + 0j]), 1.0, 1.0, method="bilinear"),
     r"A, dt: .*dt\*A = 2"),
    # mode tensors (ssm_kernel, frequency_response, mode_coefficients)
    ("kernel-lam-nan", lambda: ssm_kernel(_with(LAM, 0, complex(NAN, 0)), BB, CC, 4), r"^lam: .*finite"),
    ("kernel-Bbar-inf", lambda: ssm_kernel(LAM, _with(BB, 1, complex(INF, 0)), CC, 4), r"^Bbar: .*finite"),
    ("kernel-C-nan", lambda: ssm_kernel(LAM, BB, _with(CC, 0, complex(0, NAN)), 4), r"^C: .*finite"),
    ("kernel-shapes", lambda: ssm_kernel(LAM, BB, torch.ones(3, dtype=torch.complex128), 4),
     r"lam, Bbar, C: .*broadcast"),
    ("kernel-scalar-modes", lambda: ssm_kernel(0.5, 1.0, 1.0, 4), r"^lam: .*mode axis"),
    ("kernel-zero-pole", lambda: ssm_kernel(_with(LAM, 1, 0j), BB, CC, 4), r"^lam: .*non-zero"),
    ("kernel-L-zero", lambda: ssm_kernel(LAM, BB, CC, 0), r"^L: .*integer >= 1"),
    ("kernel-L-negative", lambda: ssm_kernel(LAM, BB, CC, -3), r"^L: .*integer >= 1"),
    ("kernel-L-float", lambda: ssm_kernel(LAM, BB, CC, 4.0), r"^L: .*integer"),
    ("kernel-L-fraction", lambda: ssm_kernel(LAM, BB, CC, 2.5), r"^L: .*integer"),
    ("kernel-L-bool", lambda: ssm_kernel(LAM, BB, CC, True), r"^L: .*integer"),
    ("kernel-L-none", lambda: ssm_kernel(LAM, BB, CC, None), r"^L: .*integer"),
    ("kernel-L-str", lambda: ssm_kernel(LAM, BB, CC, "8"), r"^L: .*integer"),
    ("kernel-L-tensor", lambda: ssm_kernel(LAM, BB, CC, torch.tensor(4)), r"^L: .*integer"),
    ("mode-coefficients-nan", lambda: mode_coefficients(LAM, BB, _with(CC, 1, complex(INF, INF))), r"^C: "),
    # frequency response
    ("freq-omega-complex", lambda: frequency_response(LAM, BB, CC, OM + 0j), r"^omega: .*real"),
    ("freq-omega-complex-scalar", lambda: frequency_response(LAM, BB, CC, 1j), r"^omega: .*real"),
    ("freq-omega-nan", lambda: frequency_response(LAM, BB, CC, _with(OM, 2, NAN)), r"^omega: .*finite"),
    ("freq-omega-inf", lambda: frequency_response(LAM, BB, CC, _with(OM, 0, -INF)), r"^omega: .*finite"),
    ("freq-omega-batch", lambda: frequency_response(LAM.expand(2, 2), BB, CC, OM.expand(3, 5)),
     r"^omega: .*broadcast"),
    ("freq-lam-nan", lambda: frequency_response(_with(LAM, 0, complex(NAN, 0)), BB, CC, OM),
     r"^lam: .*finite"),
    ("freq-unstable-on-circle", lambda: frequency_response(_with(LAM, 0, 1j), BB, CC, OM), r"^lam: .*stable"),
    ("freq-unstable-outside", lambda: frequency_response(_with(LAM, 1, -1.5 + 0j), BB, CC, OM),
     r"^lam: .*\|lam\| < 1"),
    ("freq-L-zero", lambda: frequency_response(LAM, BB, CC, OM, L=0), r"^L: "),
    ("freq-L-float", lambda: frequency_response(LAM, BB, CC, OM, L=8.0), r"^L: "),
    ("freq-L-bool", lambda: frequency_response(LAM, BB, CC, OM, L=False), r"^L: "),
    ("power-omega-complex", lambda: power_response(LAM, BB, CC, OM + 1j), r"^omega: "),
    ("power-unstable", lambda: power_response(_with(LAM, 0, 1.0 + 0j), BB, CC, OM), r"^lam: "),
    ("rfft-grid-L", lambda: rfft_grid(0), r"^L: "),
    ("rfft-grid-L-bool", lambda: rfft_grid(True), r"^L: "),
]


# ---------------------------------------------------------------------------- operators

K_FUNCS = [toeplitz, circulant, dft_power, induced_kernel_spectrum, induced_kernel_eig,
           toeplitz_circulant_gap, toeplitz_trace, circulant_trace]

OPERATOR_CASES = []
for f in K_FUNCS:
    OPERATOR_CASES += [
        (f"{f.__name__}-K-nan", (lambda f=f: f(_with(K8, 3, NAN))), r"^K: .*finite"),
        (f"{f.__name__}-K-inf", (lambda f=f: f(_with(K8, 0, INF))), r"^K: .*finite"),
        (f"{f.__name__}-K-complex", (lambda f=f: f(K8 + 1j)), r"^K: .*real"),
        (f"{f.__name__}-K-scalar", (lambda f=f: f(1.0)), r"^K: .*shape"),
        (f"{f.__name__}-K-empty", (lambda f=f: f(torch.zeros(3, 0))), r"^K: .*L >= 1"),
        (f"{f.__name__}-K-strings", (lambda f=f: f(np.array(["1", "2"]))), r"^K: .*numbers"),
    ]
for f in (induced_kernel_spectrum, induced_kernel_eig):
    n = f.__name__
    OPERATOR_CASES += [
        (f"{n}-structure", (lambda f=f: f(K8, "hankel")), r"^structure: .*'hankel'"),
        (f"{n}-structure-case", (lambda f=f: f(K8, "Toeplitz")), r"^structure: "),
        (f"{n}-cov-shape", (lambda f=f: f(K8, input_cov=torch.eye(7, dtype=torch.float64))),
         r"^input_cov: .*shape"),
        (f"{n}-cov-1d", (lambda f=f: f(K8, input_cov=torch.ones(8, dtype=torch.float64))),
         r"^input_cov: .*shape"),
        (f"{n}-cov-rect", (lambda f=f: f(K8, input_cov=torch.ones(8, 9, dtype=torch.float64))),
         r"^input_cov: .*shape"),
        (f"{n}-cov-nonsym", (lambda f=f: f(K8, input_cov=_nonsym())), r"^input_cov: .*symmetric"),
        (f"{n}-cov-nonpsd", (lambda f=f: f(K8, input_cov=_nonpsd())),
         r"^input_cov: .*positive semi-definite"),
        (f"{n}-cov-nan", (lambda f=f: f(K8, input_cov=_with(EYE8, (2, 2), NAN))), r"^input_cov: .*finite"),
        (f"{n}-cov-complex", (lambda f=f: f(K8, input_cov=EYE8 + 0j)), r"^input_cov: .*real"),
        (f"{n}-cov-batch", (lambda f=f: f(K8.expand(2, 8), input_cov=EYE8.expand(3, 8, 8))),
         r"^input_cov: .*broadcast"),
    ]


# ---------------------------------------------------------------------------- learning curves

LC_CASES = []
for name, pos in (("eigenvalues", 0), ("target_power", 1)):
    def call(bad, pos=pos):
        args = [ETA, A2]
        args[pos] = bad
        return lambda: predict(*args, 5)

    LC_CASES += [
        (f"predict-{name}-nan", call(np.array([1.0, NAN, 0.5])), rf"^{name}: .*finite"),
        (f"predict-{name}-inf", call(np.array([1.0, INF, 0.5])), rf"^{name}: .*finite"),
        (f"predict-{name}-complex", call(np.array([1.0, 1j, 0.5])), rf"^{name}: .*real"),
        (f"predict-{name}-complex-tensor", call(torch.tensor([1.0, 1j, 0.5])), rf"^{name}: .*real"),
        (f"predict-{name}-strings", call(["a", "b", "c"]), rf"^{name}: .*numbers"),
        (f"predict-{name}-2d", call(np.ones((3, 1))), rf"^{name}: .*1-D"),
        (f"predict-{name}-empty", call([]), rf"^{name}: .*non-empty"),
        (f"predict-{name}-scalar", call(1.0), rf"^{name}: .*1-D"),
    ]
LC_CASES += [
    ("predict-shapes", lambda: predict(ETA, A2[:2], 5), r"eigenvalues, target_power: .*shapes"),
    ("predict-eigenvalues-negative", lambda: predict([1.0, -1e-3, 0.5], A2, 5), r"^eigenvalues: .*>= 0"),
    ("predict-target-negative", lambda: predict(ETA, [1.0, -1e-20, 0.0], 5), r"^target_power: .*>= 0"),
    ("predict-P-negative", lambda: predict(ETA, A2, -1), r"^P: "),
    ("predict-P-negative-list", lambda: predict(ETA, A2, [1, 2, -0.5]), r"^P: "),
    ("predict-P-nan", lambda: predict(ETA, A2, [1, NAN]), r"^P: .*finite"),
    ("predict-P-inf", lambda: predict(ETA, A2, INF), r"^P: .*finite"),
    ("predict-P-2d", lambda: predict(ETA, A2, [[1, 2]]), r"^P: .*1-D"),
    ("predict-P-complex", lambda: predict(ETA, A2, 3 + 1j), r"^P: .*real"),
    ("predict-P-complex-array", lambda: predict(ETA, A2, np.array([3 + 0j])), r"^P: .*real"),
    ("predict-P-complex-tensor", lambda: predict(ETA, A2, torch.tensor([3 + 1j])), r"^P: .*real"),
    ("predict-P-string", lambda: predict(ETA, A2, "10"), r"^P: "),
    ("predict-P-none", lambda: predict(ETA, A2, None), r"^P: "),
    ("predict-ridge-negative", lambda: predict(ETA, A2, 5, ridge=-1e-3), r"^ridge: .*>= 0"),
    ("predict-ridge-nan", lambda: predict(ETA, A2, 5, ridge=NAN), r"^ridge: .*finite"),
    ("predict-ridge-inf", lambda: predict(ETA, A2, 5, ridge=INF), r"^ridge: .*finite"),
    ("predict-ridge-complex", lambda: predict(ETA, A2, 5, ridge=0.1 + 0.1j), r"^ridge: .*real"),
    ("predict-ridge-np-complex", lambda: predict(ETA, A2, 5, ridge=np.complex128(0.1)), r"^ridge: .*real"),
    ("predict-ridge-str", lambda: predict(ETA, A2, 5, ridge="0.1"), r"^ridge: "),
    ("predict-ridge-none", lambda: predict(ETA, A2, 5, ridge=None), r"^ridge: "),
    ("predict-ridge-array", lambda: predict(ETA, A2, 5, ridge=np.array([0.1, 0.2])), r"^ridge: "),
    ("predict-noise-negative", lambda: predict(ETA, A2, 5, noise=-0.1), r"^noise: .*>= 0"),
    ("predict-noise-nan", lambda: predict(ETA, A2, 5, noise=NAN), r"^noise: .*finite"),
    ("predict-noise-complex", lambda: predict(ETA, A2, 5, noise=1j), r"^noise: .*real"),
    ("predict-noise-tensor-complex", lambda: predict(ETA, A2, 5, noise=torch.tensor(1j)), r"^noise: .*real"),
    ("cumulative-zero-power", lambda: cumulative_power(ETA, np.zeros(3)), r"^target_power: .*positive"),
    ("cumulative-negative-eta", lambda: cumulative_power([-1.0, 1.0], [1.0, 1.0]), r"^eigenvalues: "),
    ("cumulative-negative-power", lambda: cumulative_power(ETA, [1.0, -1.0, 1.0]), r"^target_power: "),
    ("cumulative-shapes", lambda: cumulative_power(ETA, [1.0]), r"eigenvalues, target_power: "),
    ("cumulative-nan", lambda: cumulative_power([NAN, 1.0], [1.0, 1.0]), r"^eigenvalues: .*finite"),
    ("area-zero-power", lambda: cumulative_power_area(ETA, np.zeros(3)), r"^target_power: "),
    ("area-complex", lambda: cumulative_power_area(ETA, A2 + 0j), r"^target_power: .*real"),
]


# ---------------------------------------------------------------------------- _validate

VALIDATE_CASES = [
    ("as_tensor-complex", lambda: _validate.as_tensor(1j, "x", complex_ok=False), r"^x: .*real"),
    ("as_tensor-object", lambda: _validate.as_tensor([{"a": 1}], "x"), r"^x: .*numbers"),
    ("as_tensor-strings", lambda: _validate.as_tensor("abc", "x"), r"^x: .*numbers"),
    ("as_tensor-ragged", lambda: _validate.as_tensor([[1.0], [1.0, 2.0]], "x"), r"^x: "),
    ("check_finite", lambda: _validate.check_finite(torch.tensor([1.0, NAN]), "y"), r"^y: .*finite"),
    ("check_length-zero", lambda: _validate.check_length(0, "n"), r"^n: .*>= 1"),
    ("check_length-bool", lambda: _validate.check_length(True, "n"), r"^n: "),
    ("check_length-float", lambda: _validate.check_length(3.0, "n"), r"^n: "),
    ("check_length-np-float", lambda: _validate.check_length(np.float64(3), "n"), r"^n: "),
    ("check_stable", lambda: _validate.check_stable(torch.tensor([0.5, 1.0]), "z"), r"^z: .*\|z\| < 1"),
    ("check_positive", lambda: _validate.check_positive(torch.tensor([1.0, 0.0]), "w"), r"^w: .*> 0"),
]

ALL_CASES = KERNEL_CASES + OPERATOR_CASES + LC_CASES + VALIDATE_CASES


@pytest.mark.parametrize("thunk, pattern", [c[1:] for c in ALL_CASES], ids=[c[0] for c in ALL_CASES])
def test_value_error_names_argument(thunk, pattern):
    with pytest.raises(ValueError, match=pattern):
        thunk()


def test_case_ids_unique():
    ids = [c[0] for c in ALL_CASES]
    assert len(ids) == len(set(ids))


# ---------------------------------------------------------------------------- valid edges pass


def test_valid_edge_inputs_are_accepted():
    # integer-like lengths, integer dt, lists, numpy scalars
    assert ssm_kernel(LAM, BB, CC, np.int64(3)).shape == (3,)
    assert ssm_kernel(LAM.tolist(), BB.tolist(), CC.tolist(), 1).shape == (1,)
    lam, _ = discretize(A0, BB, 1)
    assert lam.dtype == torch.complex128
    assert frequency_response(LAM, BB, CC, [0, 1, 2], L=np.int32(4)).shape == (3,)
    # |lam| >= 1 is fine with a finite L (only L=None needs stability)
    assert torch.isfinite(frequency_response(_with(LAM, 0, 1.0 + 0j), BB, CC, OM, L=5)).all()
    assert torch.isfinite(ssm_kernel(_with(LAM, 0, -1.2 + 0j), BB, CC, 5)).all()
    # PSD with exact zeros, symmetric up to rounding, rank-deficient
    v = torch.randn(8, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    eta = induced_kernel_spectrum(K8, input_cov=v @ v.T)
    assert eta.shape == (8,) and float(eta[1:].abs().max()) < 1e-12 * float(eta[0])
    # rounding-level negative eigenvalues of a covariance are tolerated
    Q, _ = torch.linalg.qr(torch.randn(8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    d = torch.tensor([1.0, 0.5, 0.1, 0, 0, 0, 0, 0], dtype=torch.float64)
    induced_kernel_spectrum(K8, input_cov=Q @ torch.diag(d) @ Q.T)
    # learning curves: zero ridge/noise, P = 0, rounding-level negative eigenvalue
    assert predict(ETA, A2, 0) == pytest.approx(A2.sum())
    assert np.isfinite(predict([1.0, -1e-18], [1.0, 0.0], [0.5, 3.0], ridge=0.1)).all()
    assert predict(ETA, A2, np.int64(2), ridge=np.float32(0.1), noise=torch.tensor(0.2)) > 0
    assert solve_kappa(ETA, 2.0, 0.0) > 0
