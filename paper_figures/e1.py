"""Shared glue of the E1 figures (frozen single-channel SSM + ridge readout = kernel regression).

Used by ``fig_learning_curves.py``, ``fig_mismatch_sweep.py`` and
``fig_estimator_sensitivity.py``. Thin wrappers over the library only: every formula
lives in ``ssm_tdi`` (kernels through ``layers.DiagonalSSM``, the readout and its exact
error in ``kernel_regression``, the C4 theory in ``learning_curves``, the induced
kernel's eigen-decomposition in ``operators``, teachers and inputs in ``synthetic``,
S_task estimators in ``spectra`` and TDI in ``tdi``).

Setting (docs/claims.md E1; choices marked "ours" are ours):

* one channel (H = 1) DiagonalSSM, d_state N = 64 (32 complex modes), float64, ZOH,
  dt log-uniform in [1e-3, 1e-1] (the layer's defaults);
* kernel K = layer.kernel(L)[0] normalised to sum_m K_m^2 = 1 (so every init has the same
  total power and the comparison is about where the power sits, not how much);
* teacher y = beta^T u + sigma e, beta = synthetic.band_limited_teacher(L, band) (||beta|| = 1),
  label noise at a stated SNR = beta^T Sigma beta / sigma^2 (synthetic.noise_std_for_snr;
  SNR = inf is the noise-free limit); inputs white or AR(1) with rho = 0.8 ("colored");
* readout: ridge regression on all L outputs T u (sum-of-squares convention), the ridge either
  chosen per kernel and per training set by closed-form leave-one-out on that training set alone
  (kernel_regression.select_ridge over kernel_regression.ridge_grid) or fixed at RIDGE (the
  earlier set-up, kept as the noise-free limit); error = the exact generalisation error against
  the teacher, kernel_regression.readout_error (input_cov for colored input); theory:
  learning_curves.predict with the eigenvalues and target powers a_r^2 = (v_r . W^T beta)^2 of
  operators.induced_kernel_eig(K, input_cov), the same ridge (the one CV chose for that trial
  and P) and the same noise sigma;
* freqbias needs its alpha (Yu et al. tune it per task); we use FREQBIAS_ALPHA (ours);
* TDI starts from the trial's s4d-lin layer (same seed as the s4d-lin baseline, so the
  comparison is paired) and matches S_task estimated from that trial's P training pairs: two
  arms, "tdi-input" (the label-free input spectrum, what a user without a target spectrum has)
  and "tdi-transfer" (the labelled cross-spectral estimate |G|^2 P_u from the same noisy pairs).

Seeds: every trial has one generator ``torch.Generator().manual_seed(seed * 1000 + trial)``;
the seeds of its streams (teacher, inputs, SSM init, label noise) are drawn from it in a fixed
order (the first three are the same whether or not the noise seed is drawn).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ssm_tdi import kernel_regression, learning_curves, operators, synthetic
from ssm_tdi.layers import DiagonalSSM

__all__ = [
    "D_STATE",
    "RIDGE",
    "RHO_COLORED",
    "FREQBIAS_ALPHA",
    "DEFAULT_INITS",
    "INPUT_KINDS",
    "InputModel",
    "input_model",
    "trial_seeds",
    "make_layer",
    "normalized_kernel",
    "init_kernel",
    "band_around",
    "sample_task",
    "task_spectrum",
    "tdi_kernel",
    "sim_error",
    "theory_error",
    "noise_std",
    "noisy_targets",
    "cv_error",
    "theory_errors",
    "TDI_ARMS",
    "arm_kernel",
    "samples_saved",
    "paired_ratio",
    "STYLE",
    "tdi_available",
]

D_STATE = 64
RIDGE = 1e-3
RHO_COLORED = 0.8
from ssm_tdi.inits import FREQBIAS_ALPHA  # noqa: E402  (the study-wide choice)

DEFAULT_INITS = ("s4d-lin", "s4d-inv", "s4d-legs", "freqbias")
INPUT_KINDS = ("white", "colored")
DTYPE = torch.float64

#: Things the figures needed that the library did not provide (filled at import/run time,
#: reported in the summaries so they can be moved into the library).

# Colours / labels shared by the three figures.
STYLE = {
    "s4d-lin": dict(color="#1f77b4", label="S4D-Lin (default)"),
    "s4d-inv": dict(color="#9467bd", label="S4D-Inv"),
    "s4d-legs": dict(color="#8c564b", label="S4D-LegS"),
    "freqbias": dict(color="#7f7f7f", label=f"freqbias (alpha={FREQBIAS_ALPHA:g})"),
    "tdi-fast": dict(color="#d62728", label="TDI fast (|G|^2 P_u)"),
    "tdi-gradient": dict(color="#ff7f0e", label="TDI gradient (|G|^2 P_u)"),
    "tdi-fast-gain": dict(color="#2ca02c", label="TDI fast (|G|^2)"),
    "tdi-input": dict(color="#2ca02c", label="TDI, input spectrum (label-free)"),
    "tdi-transfer": dict(color="#d62728", label="TDI, transfer estimate (labelled)"),
}

#: The two TDI arms of E1: the estimator each one feeds tdi_init (fast method).
TDI_ARMS = {"tdi-input": "input", "tdi-transfer": "transfer"}


# ---------------------------------------------------------------------------- inputs / seeds
@dataclass(frozen=True)
class InputModel:
    kind: str  # "white" or "colored"
    rho: float  # AR(1) coefficient (0 for white)
    cov: torch.Tensor | None  # (L, L) input covariance, None for white
    spectrum: torch.Tensor  # true P_u on the rfft grid (ones for white)


def input_model(kind: str, L: int) -> InputModel:
    if kind == "white":
        return InputModel("white", 0.0, None, torch.ones(L // 2 + 1, dtype=DTYPE))
    if kind == "colored":
        return InputModel(
            "colored",
            RHO_COLORED,
            synthetic.ar1_covariance(L, RHO_COLORED),
            synthetic.ar1_spectrum(L, RHO_COLORED),
        )
    raise ValueError(f"input kind: expected one of {INPUT_KINDS}, got {kind!r}")


def trial_seeds(seed: int, trial: int, n: int = 3) -> list[int]:
    """``n`` stream seeds of one trial, drawn from manual_seed(seed * 1000 + trial)."""
    g = torch.Generator().manual_seed(seed * 1000 + trial)
    return [int(s) for s in torch.randint(0, 2**62, (n,), generator=g)]


# ---------------------------------------------------------------------------- SSM kernels
def make_layer(init: str, seed: int) -> DiagonalSSM:
    """Single-channel float64 DiagonalSSM with a default init; TDI variants start from s4d-lin."""
    name = "s4d-lin" if init.startswith("tdi") else init
    kw = {"alpha": FREQBIAS_ALPHA} if name == "freqbias" else {}
    return DiagonalSSM(
        1, D_STATE, init=name, dtype=DTYPE, generator=torch.Generator().manual_seed(seed), **kw
    )


def normalized_kernel(layer: DiagonalSSM, L: int) -> torch.Tensor:
    """K = layer.kernel(L)[0] / ||.||_2 (sum_m K_m^2 = 1), detached."""
    with torch.no_grad():
        K = layer.kernel(L)[0].detach().to(DTYPE)
    n = K.norm()
    if not bool(torch.isfinite(n)) or float(n) == 0.0:
        raise ValueError("kernel has zero or non-finite norm")
    return K / n


def init_kernel(init: str, seed: int, L: int) -> torch.Tensor:
    return normalized_kernel(make_layer(init, seed), L)


# ---------------------------------------------------------------------------- tasks
def band_around(centre: float, width: float) -> tuple[tuple[float, float], ...]:
    """One band of the given width (radians) centred at ``centre``, clipped to [0, pi]."""
    lo, hi = max(0.0, centre - width / 2), min(math.pi, centre + width / 2)
    return ((lo, hi),)


def sample_task(L: int, bands, inp: InputModel, seed_teacher: int, seed_data: int, P_max: int):
    """beta (L,), X (P_max, L), y (P_max,): one trial's teacher and its (nested) training pool."""
    beta = synthetic.band_limited_teacher(L, bands, generator=torch.Generator().manual_seed(seed_teacher))
    X = synthetic.sample_inputs(P_max, L, inp.rho, generator=torch.Generator().manual_seed(seed_data))
    y = synthetic.teacher_targets(beta, X)
    return beta, X, y


# ---------------------------------------------------------------------------- S_task and TDI
def _spectra():
    from ssm_tdi import spectra  # written by another helper; imported lazily

    return spectra


def tdi_available() -> bool:
    try:
        from ssm_tdi import spectra, tdi  # noqa: F401
    except ImportError:
        return False
    return True


def task_spectrum(
    X: torch.Tensor,
    y: torch.Tensor | None,
    estimator: str = "transfer",
    variant: str = "power",
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """S_task on the rfft grid, estimated from training sequences X (n, L) and targets.

    estimator:
      * "input": mean periodogram of the inputs (label-free), ``spectra.input_spectrum``;
      * "transfer": cross-spectral estimate for the scalar target y (n,):
        variant "power" = |rfft(mean_i y_i u_i)|^2 / S_uu (the power of the target explained
        through u, ~ |G|^2 P_u), variant "gain" = |rfft(mean_i y_i u_i)|^2 / S_uu^2 (~ |G|^2);
        S_uu is the mean periodogram of the same inputs;
      * "discriminative": ``spectra.discriminative_spectrum`` on class labels.
    """
    sp = _spectra()
    if estimator == "input":
        return _as_grid(sp.input_spectrum(X))
    if estimator == "discriminative":
        if labels is None:
            raise ValueError("discriminative estimator needs labels")
        return _as_grid(sp.discriminative_spectrum(X, labels))
    if estimator != "transfer":
        raise ValueError(f"estimator: {estimator!r}")
    if variant not in ("power", "gain"):
        raise ValueError(f"variant: {variant!r}")
    S = _as_grid(sp.transfer_spectrum(X, y))  # scalar target: |rfft(mean_i y_i u_i)|^2 / S_uu
    if variant == "gain":
        S = S / _as_grid(sp.input_spectrum(X)).clamp_min(torch.finfo(DTYPE).tiny)
    return S


def _as_grid(S) -> torch.Tensor:
    S = torch.as_tensor(S).detach().to(DTYPE)
    while S.dim() > 1:  # a channel axis of size 1
        S = S[0]
    return S


def tdi_kernel(S_task: torch.Tensor, L: int, seed: int, method: str = "fast", **tdi_kwargs):
    """Normalised kernel of the trial's s4d-lin layer after ``tdi.tdi_init`` on S_task."""
    from ssm_tdi import tdi

    layer = make_layer("tdi", seed)
    report = tdi.tdi_init(layer, S_task, method=method, **tdi_kwargs)
    return normalized_kernel(layer, L), report


# ---------------------------------------------------------------------------- errors
def sim_error(K, X, y, beta, inp: InputModel, ridge: float = RIDGE) -> float:
    """Exact generalisation error of the ridge readout fit on (X, y)."""
    return kernel_regression.readout_error(K, X, y, beta, ridge=ridge, input_cov=inp.cov)


def theory_error(K, beta, inp: InputModel, P, ridge: float = RIDGE, noise: float = 0.0):
    """C4 prediction E_g(P) for kernel K, teacher beta, the input model, ridge and label-noise std."""
    eta, V, W = operators.induced_kernel_eig(K, input_cov=inp.cov)
    a2 = (V.T @ (W.T @ beta.to(DTYPE))).square()
    return learning_curves.predict(eta, a2, P, ridge=ridge, noise=noise)


def theory_errors(K, beta, inp: InputModel, Ps, ridges, noise: float = 0.0) -> np.ndarray:
    """C4 prediction at each (P, ridge) pair (one ridge per P, e.g. the one CV chose); one eigen-decomposition."""
    eta, V, W = operators.induced_kernel_eig(K, input_cov=inp.cov)
    a2 = (V.T @ (W.T @ beta.to(DTYPE))).square()
    return np.array([learning_curves.predict(eta, a2, float(P), ridge=float(r), noise=noise)
                     for P, r in zip(Ps, ridges, strict=True)])


def noise_std(beta, inp: InputModel, snr: float) -> float:
    """Label-noise std for the stated SNR = beta^T Sigma beta / sigma^2 (inf: no noise)."""
    return synthetic.noise_std_for_snr(beta, snr, input_cov=inp.cov)


def noisy_targets(beta, X, sigma: float, seed_noise: int) -> torch.Tensor:
    """y = X beta + sigma e with e from its own seed: the same e for every init (paired) and every
    prefix X[:P] (nested), scaled by sigma for each noise level."""
    return synthetic.teacher_targets(beta, X, noise=sigma, generator=torch.Generator().manual_seed(seed_noise))


#: A choice at an end of the ridge grid counts as cut off by the grid when the leave-one-out error
#: there is still more than this fraction below its neighbour's (a quarter decade away). At either
#: end the curve usually lies flat (ridge -> 0: the minimum-norm interpolant; ridge -> inf: the zero
#: predictor), and a flat end means a wider grid would not choose differently.
GRID_CUTOFF_SLOPE = 0.01


def cv_error(K, X, y, beta, inp: InputModel) -> tuple[float, float, bool]:
    """Exact error of the readout whose ridge leave-one-out chose on (X, y) alone; returns
    (error, ridge, whether the grid cut the choice off: see GRID_CUTOFF_SLOPE)."""
    Phi = kernel_regression.ssm_features(K, X)
    grid = kernel_regression.ridge_grid(Phi)
    choice = kernel_regression.select_ridge(Phi, y, grid, "loo")
    err = kernel_regression.readout_error(K, X, y, beta, ridge=choice.ridge, input_cov=inp.cov)
    i, sc = choice.index, choice.scores
    nb = 1 if i == 0 else (len(grid) - 2 if i == len(grid) - 1 else None)
    cut = nb is not None and bool(sc[i] < (1 - GRID_CUTOFF_SLOPE) * sc[nb])
    return err, choice.ridge, cut


def arm_kernel(arm: str, X, y, L: int, seed: int):
    """Normalised kernel of a TDI arm ("tdi-input" or "tdi-transfer") fit on the pairs (X, y)."""
    if arm not in TDI_ARMS:
        raise ValueError(f"arm: expected one of {tuple(TDI_ARMS)}, got {arm!r}")
    S = task_spectrum(X, None if arm == "tdi-input" else y, TDI_ARMS[arm], "power")
    return tdi_kernel(S, L, seed, "fast")


def samples_saved(Ps, err_default, err_tdi, target: float, n_boot: int = 2000, seed: int = 0, level=0.95):
    """Samples each init needs to reach ``target`` (mean curve over trials, learning_curves.samples_to_reach)
    and their ratio default / TDI with a paired percentile-bootstrap interval over trials.

    err_default, err_tdi: ``(trials, len(Ps))``. Returns dict(P_default, P_tdi, ratio, lo, hi); a ratio
    with P_default = inf is a lower bound (the default never reaches the target on the grid)."""
    Ps = np.asarray(Ps, float)
    a, b = np.asarray(err_default, float), np.asarray(err_tdi, float)

    def reach(x):
        return learning_curves.samples_to_reach(Ps, x.mean(0), target)

    def ratio(pd, pt):
        return np.inf if np.isinf(pd) and np.isfinite(pt) else (np.nan if np.isinf(pt) else pd / pt)

    pd, pt = reach(a), reach(b)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.shape[0], size=(n_boot, a.shape[0]))
    boot = np.array([ratio(reach(a[i]), reach(b[i])) for i in idx])
    boot = boot[~np.isnan(boot)]  # resamples where TDI never reaches the target have no ratio
    q = (1 - level) / 2
    lo, hi = (np.quantile(boot, [q, 1 - q], method="inverted_cdf") if boot.size else (np.nan, np.nan))
    return {"P_default": pd, "P_tdi": pt, "ratio": ratio(pd, pt), "lo": float(lo), "hi": float(hi),
            "boot_valid": int(boot.size), "n_boot": n_boot}


def paired_ratio(num, den, axis=0, level=0.95):
    """Geometric mean over trials of the paired ratios num/den with a t-interval on the log
    scale: returns (ratio, lo, hi). num/den: arrays with trials along ``axis``."""
    from paper_figures.common import mean_ci

    lr = np.log(np.asarray(num, float)) - np.log(np.asarray(den, float))
    m, hw = mean_ci(lr, axis=axis, level=level)
    return np.exp(m), np.exp(m - hw), np.exp(m + hw)
