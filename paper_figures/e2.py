"""Shared glue of the E2 figures (fig_trainable, fig_persistence): a trainable one-layer SSM.

Model (one run): a single-channel :class:`ssm_tdi.layers.DiagonalSSM` followed by a linear
readout of all its L outputs to a scalar,

    f(u) = w^T (T u),        T the causal Toeplitz operator of the layer's kernel K,

i.e. E1's frozen SSM + readout (no readout bias, as in E1; the targets have mean 0), now with
EVERY parameter trained end to end (log_dt, A, B, C of the SSM at ``ssm_lr`` and the readout w
at ``lr``, Adam through ``training.train`` and
``layers.param_groups``; the same number of full-batch steps for every init). The layer's skip
term D is held at 0 and not trained (``train_D=False``): D is not part of the kernel K whose
spectrum |H|^2 the paper's bias analysis and L_spec are about, and E1's features are T u.
The readout starts at w = 0 (as E1's minimum-norm readout), and every SSM's initial
kernel is rescaled (through C) to sum_m K_m^2 = 1 so that all inits start with the same power.

Teachers: the band-limited linear teachers of E1 (``synthetic.band_limited_teacher``, bands
low / mid / high / two-band, ||beta|| = 1), white unit-variance input, y = beta^T u (no noise).
Test error is exact (no test sample): with beta_hat = T^T w the function's weight vector,
E_g = ||beta_hat - beta||^2 (``kernel_regression.linear_generalization_error``), and the
relative MSE is E_g / Var(y) with Var(y) = ||beta||^2 (= 1), so the trivial predictor (predict
0, the mean of the zero-mean target) has relative MSE 1.

Packing: many independent runs (inits x teachers x seeds at one P) are trained at once as the
H channels of ONE DiagonalSSM with one readout row per channel. Every parameter of the layer
is per channel and the readout row h only sees channel h, so the runs share no parameter; Adam
is element-wise, so each channel follows its own single-run trajectory (the packed loss is the
mean of the per-channel MSEs: a common factor 1/H on every gradient, which Adam's normalisation
removes up to its eps). This is only an execution device (one Python loop instead of H).

Two more exact execution devices (both checked at run time, see :func:`run_packed`):
* the forward evaluates w^T (T u) as (T^T w)^T u (the same function and gradients; the layer's
  own FFT convolution is compared once per run, ``forward_check``);
* for P > L the full-batch loss of a model that is linear in u depends on the data only through
  X^T X and X^T y, so the P training pairs of a run are replaced by L pseudo-pairs
  (sqrt(L/P) R, sqrt(L/P) Q^T y) from the thin QR factorisation X = Q R: the training MSE then
  equals the true one minus a parameter-free constant, so every gradient (and every Adam step)
  is the same, and a step costs O(L^2) instead of O(P L) (``grad_check`` compares the gradients
  of the two losses once per run).

TDI (C5): ``ssm_tdi.tdi.tdi_init(layer, S_task, method="fast")`` (init name ``"tdi"``) or
``method="gradient"`` (``"tdi-gradient"``, the library's Adam-on-L_spec baseline) on a fresh S4D-Lin
layer of the same seed, with S_task estimated from the P training pairs (:func:`task_spectrum`).
:func:`residue_ratio` measures how much the initial kernel's modes cancel (a conditioning number).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from ssm_tdi import kernel_regression, kernels, operators, synthetic
from ssm_tdi.inits import FREQBIAS_ALPHA
from ssm_tdi.layers import DiagonalSSM
from ssm_tdi.training import TrainConfig, train

__all__ = [
    "TEACHERS",
    "DEFAULT_INITS",
    "INIT_LABELS",
    "INIT_KWARGS",
    "TDI_BASE",
    "PackedReadoutModel",
    "make_trial_data",
    "task_spectrum",
    "oracle_spectrum",
    "build_layer",
    "pack_layers",
    "run_packed",
    "relative_errors",
    "alignment_scores",
    "TDI_METHODS",
    "residue_ratio",
    "COLORS",
    "init_generator",
    "checkpoint_steps",
]

TEACHERS = ("low", "mid", "high", "two-band")
DEFAULT_INITS = ("s4d-lin", "s4d-inv", "s4d-legs", "freqbias")
INIT_KWARGS = {"freqbias": {"alpha": FREQBIAS_ALPHA}}
INIT_LABELS = {
    "s4d-lin": "S4D-Lin",
    "s4d-inv": "S4D-Inv",
    "s4d-legs": "S4D-LegS",
    "freqbias": f"freqbias (\u03b1={FREQBIAS_ALPHA:g})",
    "tdi": "TDI (fast)",
    "tdi-gradient": "TDI (gradient)",
}
COLORS = {
    "s4d-lin": "tab:blue",
    "s4d-inv": "tab:green",
    "s4d-legs": "tab:purple",
    "freqbias": "tab:orange",
    "tdi": "tab:red",
    "tdi-gradient": "tab:brown",
}
TDI_BASE = "s4d-lin"  # TDI starts from an S4D-Lin draw of the same seed (paired with s4d-lin)
#: init name -> tdi_init method ("tdi" is the paper's fast TDI; "tdi-gradient" the library's Adam baseline)
TDI_METHODS = {"tdi": "fast", "tdi-gradient": "gradient"}


# ---------------------------------------------------------------------------------------- data
def make_trial_data(seed: int, trial: int, L: int, P_max: int, teachers=TEACHERS):
    """Training inputs X ``(P_max, L)`` (white, float64) and one teacher beta per band.

    One generator per trial, ``torch.Generator().manual_seed(seed * 1000 + trial)``: first the
    inputs, then the teachers in the order given. Training sets are nested (the first P rows).
    """
    g = torch.Generator().manual_seed(seed * 1000 + trial)
    X = synthetic.sample_inputs(P_max, L, rho=0.0, generator=g)
    betas = {t: synthetic.band_limited_teacher(L, t, generator=g) for t in teachers}
    return X, betas


def init_generator(seed: int, trial: int) -> torch.Generator:
    """The generator of a trial's SSM init (trial id offset by 500 from the data's)."""
    return torch.Generator().manual_seed(seed * 1000 + 500 + trial)


def task_spectrum(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """S_task on the rfft grid from P training pairs (X ``(P, L)``, scalar y ``(P,)``): the
    library's cross-spectral estimate for a scalar target, |rfft(mean_i y_i u_i)|^2 / S_uu."""
    from ssm_tdi import spectra

    return spectra.transfer_spectrum(X, y).to(torch.float64)


def oracle_spectrum(beta: torch.Tensor) -> torch.Tensor:
    """The teacher's true power spectrum |rfft(beta)|^2 (= |G(w_j)|^2 of the equivalent filter)."""
    return torch.fft.rfft(beta.to(torch.float64)).abs().square()


# ---------------------------------------------------------------------------------------- layers
def build_layer(init: str, d_state: int, generator: torch.Generator, L: int, S_task=None):
    """One single-channel float64 layer; ``init`` in TDI_METHODS runs TDI from TDI_BASE to ``S_task``.

    The kernel is rescaled through C to sum_{m<L} K_m^2 = 1. Returns (layer, tdi_report or None).
    """
    report = None
    if init in TDI_METHODS:
        from ssm_tdi.tdi import tdi_init

        layer = DiagonalSSM(
            1,
            d_state,
            init=TDI_BASE,
            dtype=torch.float64,
            generator=generator,
            **INIT_KWARGS.get(TDI_BASE, {}),
        )
        report = tdi_init(layer, S_task, method=TDI_METHODS[init])
    else:
        layer = DiagonalSSM(
            1, d_state, init=init, dtype=torch.float64, generator=generator, **INIT_KWARGS.get(init, {})
        )
    with torch.no_grad():
        norm = layer.kernel(L)[0].norm()
        layer.set_parameters(C=layer.C_complex() / norm, D=torch.zeros(1, dtype=torch.float64))
    return layer, report


def residue_ratio(layer: DiagonalSSM, L: int) -> torch.Tensor:
    """Conditioning of the kernel's modal sum, per channel: sum over all N modes of |c_n| / ||K||_2.

    c_n = C_n Bbar_n (``kernels.mode_coefficients``), conjugate pairs counted twice. About 1 when the
    modes add up without cancellation (S4D-Lin ~1.3); huge when large residues cancel to a small
    kernel, which makes K hypersensitive to the poles (dK/d lam ~ c) and to rounding.
    """
    with torch.no_grad():
        lam, Bbar, C = layer.discrete()
        _, c = kernels.mode_coefficients(lam, Bbar, C)
        return (2 * c.abs().sum(-1) / layer.kernel(L).norm(dim=-1)).to(torch.float64).cpu()


def pack_layers(layers, dtype=torch.float32, device=None) -> DiagonalSSM:
    """The single-channel layers as the channels of one DiagonalSSM (same d_state, same parameters)."""
    d_state = layers[0].d_state
    packed = DiagonalSSM(len(layers), d_state, init="s4d-lin", dtype=dtype, device=device)
    with torch.no_grad():
        packed.set_parameters(
            A=torch.cat([la.A() for la in layers]),
            B=torch.cat([la.B_complex() for la in layers]),
            C=torch.cat([la.C_complex() for la in layers]),
            dt=torch.cat([la.dt() for la in layers]),
            D=torch.cat([la.D for la in layers]),
        )
    return packed


class PackedReadoutModel(nn.Module):
    """H independent runs f_h(u) = w_h^T (T_h u_h) (+ D_h w_h^T u_h if train_D).

    Input ``(batch, L, H)`` (channel h carries run h's input sequence), output ``(batch, H)``.
    """

    def __init__(self, ssm: DiagonalSSM, L: int, train_D: bool = False):
        super().__init__()
        self.ssm, self.L, self.train_D = ssm, int(L), bool(train_D)
        H = ssm.d_model
        dt = ssm.log_dt.dtype
        self.weight = nn.Parameter(torch.zeros(H, self.L, dtype=dt, device=ssm.log_dt.device))
        if not self.train_D:
            with torch.no_grad():
                ssm.D.zero_()
            ssm.D.requires_grad_(False)

    def forward(self, x):
        """f_h(u) = w_h^T (T_h u), evaluated as (T_h^T w_h)^T u (same function, same gradients to
        every parameter; the data never go through an FFT). :meth:`forward_conv` is the literal
        layer path."""
        return torch.einsum("blh,hl->bh", x.to(self.weight.dtype), self._beta_hat())

    def forward_conv(self, x):
        """The literal path: the layer's FFT convolution (``DiagonalSSM.forward``), then the readout."""
        z = self.ssm(x)  # (batch, L, H)
        return torch.einsum("blh,hl->bh", z, self.weight)

    def _beta_hat(self) -> torch.Tensor:
        T = operators.toeplitz(self.ssm.kernel(self.L))  # (H, L, L), T[h, i, l] = K_{h, i-l}
        bh = torch.einsum("hil,hi->hl", T, self.weight)
        if self.train_D:
            bh = bh + self.ssm.D[:, None] * self.weight
        return bh

    @torch.no_grad()
    def effective_beta(self) -> torch.Tensor:
        """beta_hat_h = T_h^T w_h (+ D_h w_h): the linear functional each run computes, ``(H, L)`` float64."""
        return self._beta_hat().to(torch.float64)

    @torch.no_grad()
    def check_forward(self, x, rtol: float = 1e-3) -> float:
        """Max relative difference between :meth:`forward` and :meth:`forward_conv` on ``x``."""
        a, b = self.forward(x), self.forward_conv(x)
        d = float((a - b).abs().max() / b.abs().max().clamp(min=1e-30))
        if not d <= rtol:
            raise AssertionError(f"fast and convolution forwards differ by {d:.2e} (> {rtol})")
        return d


def relative_errors(model: PackedReadoutModel, betas: torch.Tensor) -> torch.Tensor:
    """Exact relative test MSE per run: ||T^T w - beta||^2 / ||beta||^2 (white input). ``(H,)``."""
    with torch.no_grad():
        bh = model.effective_beta()
        err = kernel_regression.linear_generalization_error(bh, betas)
        var_y = kernel_regression.linear_generalization_error(torch.zeros_like(betas), betas)
    return err / var_y


def alignment_scores(ssm: DiagonalSSM, L: int, betas: torch.Tensor):
    """Per channel: (|H|^2 (H, F), L_spec vs the oracle |rfft(beta)|^2 (H,), cumulative-power area (H,)).

    L_spec by ``spectra.spectral_matching_loss``; the area by ``learning_curves.cumulative_power_area``
    over the eigenmodes of the frozen current kernel's induced operator (``operators.induced_kernel_eig``,
    causal Toeplitz, white input), target power a_r^2 = (v_r . beta)^2.
    """
    from ssm_tdi import learning_curves, spectra

    with torch.no_grad():
        S = ssm.power_spectrum(L).to(torch.float64)
        K = ssm.kernel(L).to(torch.float64)
    lspec, area = [], []
    for h in range(S.shape[0]):
        lspec.append(float(spectra.spectral_matching_loss(S[h], oracle_spectrum(betas[h]))))
        eta, V, W = operators.induced_kernel_eig(K[h])
        a2 = (V.T @ (W.T @ betas[h].to(torch.float64))).square()
        area.append(learning_curves.cumulative_power_area(eta, a2))
    return S, torch.tensor(lspec, dtype=torch.float64), torch.tensor(area, dtype=torch.float64)


# ---------------------------------------------------------------------------------------- training
@dataclasses.dataclass
class PackedRun:
    model: PackedReadoutModel
    result: object
    checkpoints: dict  # step -> {"rel_mse": (H,), ...}; 0 = init
    train_rel: torch.Tensor  # (H,) final training MSE / mean(y^2) per run
    forward_check: float  # max rel. difference of the fast forward and the layer's FFT convolution at init
    grad_check: (
        float  # max rel. difference of the gradients of the compressed and the full loss (0: no compression)
    )
    init_kernel_err: (
        torch.Tensor
    )  # (H,) ||K(packed, training dtype) - K(float64 layer)|| / ||K(float64)|| at init
    residue_ratio: torch.Tensor  # (H,) residue_ratio of each run's initial layer (float64)


def compress(X: torch.Tensor, y: torch.Tensor):
    """L pseudo-pairs with the same full-batch MSE gradients as the P pairs (P > L; float64).

    X ``(P, L)``, y ``(P,)`` -> (sqrt(L/P) R ``(L, L)``, sqrt(L/P) Q^T y ``(L,)``) with X = Q R (thin QR):
    for every b, (1/L)||sqrt(L/P)(R b - Q^T y)||^2 = (1/P)||X b - y||^2 - (1/P)||(I - Q Q^T) y||^2.
    """
    P, L = X.shape
    Q, R = torch.linalg.qr(X.to(torch.float64))
    c = (L / P) ** 0.5
    return c * R, c * (Q.T @ y.to(torch.float64))


def run_packed(
    layers,
    X_list,
    betas,
    *,
    L: int,
    steps: int,
    lr: float,
    ssm_lr: float,
    seed: int,
    device=None,
    checkpoint_steps=(),
    checkpoint_fn=None,
    dtype=torch.float32,
    use_compression: bool = True,
) -> PackedRun:
    """Train the runs given by ``layers`` (single-channel float64 layers) jointly.

    ``X_list[h]`` is run h's training inputs ``(P, L)`` (same P for all), ``betas`` ``(H, L)`` the
    teachers; targets y = X beta. At each step in ``checkpoint_steps`` (0 = init) the default
    record is the relative test MSE; ``checkpoint_fn(model) -> dict`` adds more. With
    ``use_compression`` and P > L the training set is replaced by its exact pseudo-pairs (:func:`compress`).
    """
    device = torch.device("cpu") if device is None else torch.device(device)
    ssm = pack_layers(layers, dtype=dtype, device=device)
    model = PackedReadoutModel(ssm, L)
    with torch.no_grad():
        K64 = torch.cat([la.kernel(L) for la in layers])
        init_kernel_err = (ssm.kernel(L).to(device="cpu", dtype=torch.float64) - K64).norm(dim=-1) / K64.norm(
            dim=-1
        )
    rratio = torch.cat([residue_ratio(la, L) for la in layers])
    X64 = torch.stack(X_list, dim=-1).to(torch.float64)  # (P, L, H)
    y64 = torch.einsum("plh,hl->ph", X64, betas.to(torch.float64))
    P = X64.shape[0]
    X, y = X64.to(device=device, dtype=dtype), y64.to(device=device, dtype=dtype)
    if use_compression and P > L:
        pairs = [compress(X64[..., h], y64[:, h]) for h in range(X64.shape[-1])]
        Xt = torch.stack([p[0] for p in pairs], dim=-1).to(device=device, dtype=dtype)  # (L, L, H)
        yt = torch.stack([p[1] for p in pairs], dim=-1).to(device=device, dtype=dtype)  # (L, H)
    else:
        Xt, yt = X, y
    betas64 = betas.to(device=device, dtype=torch.float64)
    ck_steps = set(int(s) for s in checkpoint_steps)
    checkpoints = {}

    def callback(step, m):
        if step in ck_steps:
            rec = {"rel_mse": relative_errors(m, betas64).cpu()}
            if checkpoint_fn is not None:
                rec.update(checkpoint_fn(m))
            checkpoints[step] = rec

    # Run-time checks at a non-zero readout (w = 0 at init would make them vacuous): the fast forward
    # against the layer's own FFT convolution, and the compressed loss's gradients against the full one's.
    w0 = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.copy_(torch.randn(model.weight.shape, generator=torch.Generator().manual_seed(seed)) / L)
        fwd = model.check_forward(X[: min(64, P)])
    gchk = 0.0
    if Xt is not X:
        grads = []
        for xx, yy in ((X, y), (Xt, yt)):
            model.zero_grad(set_to_none=True)
            torch.nn.functional.mse_loss(model(xx), yy).backward()
            grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None]))
        model.zero_grad(set_to_none=True)
        gchk = float((grads[0] - grads[1]).abs().max() / grads[0].abs().max())
        if not gchk < 1e-2:
            raise AssertionError(f"compressed and full-batch gradients differ by {gchk:.2e}")
    with torch.no_grad():
        model.weight.copy_(w0)
    cfg = TrainConfig(
        task="regression",
        epochs=int(steps),
        batch_size=None,
        lr=lr,
        ssm_lr=ssm_lr,
        weight_decay=0.0,
        seed=seed,
    )
    result = train(model, Xt, yt, cfg, callback=callback if ck_steps else None)
    with torch.no_grad():
        train_rel = ((model(X) - y).square().mean(0) / y.square().mean(0)).to(torch.float64).cpu()
    return PackedRun(
        model=model,
        result=result,
        checkpoints=checkpoints,
        train_rel=train_rel,
        forward_check=fwd,
        grad_check=gchk,
        init_kernel_err=init_kernel_err,
        residue_ratio=rratio,
    )


def checkpoint_steps(steps: int, n: int) -> list[int]:
    """0 (init) and about n log-spaced steps from 1 to ``steps``."""
    s = np.unique(np.round(np.geomspace(1, max(1, steps), n)).astype(int))
    return [0] + [int(v) for v in s if v <= steps]
