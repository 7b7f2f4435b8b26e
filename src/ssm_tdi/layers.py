"""The diagonal SSM layer (S4D-style) used by the trainable experiments (E2, E3).

:class:`DiagonalSSM` holds H independent single-input single-output channels, each a
diagonal SSM with N2 = d_state/2 complex modes (conjugates implied). Its kernel and
frequency response are computed by :mod:`ssm_tdi.kernels` (one implementation of the
math, docs/claims.md section 1); the layer only stores the parameters and applies the
convolution.

Parameters (all real tensors, so every optimizer and ``state_dict`` handles them):
``log_dt`` (H,), ``log_A_real`` (H, N2), ``A_imag`` (H, N2), ``B`` (H, N2, 2),
``C`` (H, N2, 2), ``D`` (H,); complex B, C are stored as (re, im) pairs
(``torch.view_as_real``), and A = -exp(log_A_real) + i A_imag is stable by construction.
"""

from __future__ import annotations

import inspect
import math

import torch
from torch import nn

from . import conv, kernels
from ._validate import MAX_SIZE, as_tensor, check_int, check_result
from .inits import get_init, init_log_dt

__all__ = ["DiagonalSSM", "param_groups", "SSM_PARAM_NAMES", "freeze_dynamics", "set_dynamics_lr_scale"]

#: Names of the DiagonalSSM parameters that ``param_groups`` puts in the SSM group.
SSM_PARAM_NAMES = ("log_dt", "log_A_real", "A_imag", "B")

_DTYPES = (torch.float32, torch.float64)


def _check_device(device):
    """None or a device this torch build can place tensors on."""
    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(f"device: expected None, 'cpu' or 'cuda[:i]', got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} requested but CUDA is not available")
    return dev


class DiagonalSSM(nn.Module):
    """H-channel diagonal SSM: y = causal_conv(K, u) + D * u, K from ``kernels.ssm_kernel``.

    Args:
        d_model: number of channels H.
        d_state: real state size N per channel; must be even (N2 = N/2 complex modes).
        init: name of a default init in :data:`ssm_tdi.inits.INITS`.
        discretization: ``"zoh"`` (default) or ``"bilinear"``.
        dt_min, dt_max: range of the log-uniform initial step per channel.
        dtype: ``torch.float32`` (default) or ``torch.float64`` for the real parameters;
            the complex math then runs in complex64 / complex128.
        device: where the parameters live (the module can also be moved with ``.to``).
        generator: CPU ``torch.Generator`` for every random draw of the init (dt, C, D, ...);
            ``None`` uses the global RNG.
        **init_kwargs: options of the init function (e.g. ``alpha`` for ``freqbias``).
    """

    def __init__(self, d_model: int, d_state: int = 64, init: str = "s4d-lin",
                 discretization: str = "zoh", dt_min: float = 1e-3, dt_max: float = 1e-1,
                 dtype=torch.float32, device=None, generator: torch.Generator | None = None,
                 **init_kwargs):
        super().__init__()
        check_int(d_model, "d_model")
        check_int(d_state, "d_state")
        if d_model * (d_state // 2) > MAX_SIZE:
            raise ValueError(f"d_model, d_state: expected at most {MAX_SIZE} modes in total, "
                             f"got d_model * d_state / 2 = {d_model * (d_state // 2)}")
        if d_state % 2:
            raise ValueError(f"d_state: expected an even number (N/2 complex modes, conjugates implied), "
                             f"got {d_state}")
        if not isinstance(discretization, str) or discretization not in ("zoh", "bilinear"):
            raise ValueError(f"discretization: expected 'zoh' or 'bilinear', got {discretization!r}")
        if not isinstance(dtype, torch.dtype) or dtype not in _DTYPES:
            raise ValueError(f"dtype: expected torch.float32 or torch.float64, got {dtype}")
        device = _check_device(device)
        init_fn = get_init(init)
        self.d_model = H = int(d_model)
        self.d_state = int(d_state)
        self.N2 = N2 = self.d_state // 2
        self.init_name = init
        self.discretization = discretization
        self.dt_min, self.dt_max = dt_min, dt_max

        log_dt = init_log_dt(H, dt_min, dt_max, generator=generator)
        kw = dict(init_kwargs)
        if "dt_max" in inspect.signature(init_fn).parameters and "dt_max" not in kw:
            kw["dt_max"] = dt_max
        try:
            A, B, C = init_fn(H, N2, generator=generator, **kw)
        except TypeError as exc:  # unknown keyword for this init
            raise ValueError(f"init_kwargs: bad keyword arguments {sorted(kw)} for init {init!r}: {exc}") from exc
        D = torch.randn(H, dtype=torch.float64, generator=generator)
        if not bool((A.real < 0).all()):  # pragma: no cover - every registered init is stable
            raise ValueError(f"init {init!r} returned an unstable pole (Re A >= 0)")

        fk = dict(dtype=dtype, device=device)
        self.log_dt = nn.Parameter(log_dt.to(**fk))
        self.log_A_real = nn.Parameter(torch.log(-A.real).to(**fk))
        self.A_imag = nn.Parameter(A.imag.to(**fk))
        self.B = nn.Parameter(torch.view_as_real(B).to(**fk).contiguous())
        self.C = nn.Parameter(torch.view_as_real(C).to(**fk).contiguous())
        self.D = nn.Parameter(D.to(**fk))
        # the stored steps must discretize to usable poles (dt_min = 1e-300 rounds to dt = 0 in
        # float32; dt = 1e300 underflows lam = exp(dt A) to 0)
        with torch.no_grad():
            try:
                lam = self.discrete()[0]
                ok = bool((lam != 0).all())
            except ValueError:
                ok = False
        if not ok:
            raise ValueError(f"dt_min, dt_max: steps in [{dt_min!r}, {dt_max!r}] give no usable discrete poles "
                             f"in {dtype} (dt rounds to 0 or inf, or exp(dt A) underflows to 0)")

    # ------------------------------------------------------------------ parameters
    def A(self) -> torch.Tensor:
        """Complex (H, N2): a_n = -exp(log_A_real) + i A_imag."""
        return torch.complex(-torch.exp(self.log_A_real), self.A_imag)

    def dt(self) -> torch.Tensor:
        """Real (H,): dt = exp(log_dt)."""
        return torch.exp(self.log_dt)

    def B_complex(self) -> torch.Tensor:
        """Complex (H, N2) view of ``B``."""
        return torch.view_as_complex(self.B)

    def C_complex(self) -> torch.Tensor:
        """Complex (H, N2) view of ``C``."""
        return torch.view_as_complex(self.C)

    def discrete(self):
        """(lam, Bbar, C), complex (H, N2) each, via :func:`ssm_tdi.kernels.discretize`."""
        lam, Bbar = kernels.discretize(self.A(), self.B_complex(), self.dt().unsqueeze(-1),
                                       method=self.discretization)
        return lam, Bbar, self.C_complex()

    # ------------------------------------------------------------------ kernel / spectrum
    def kernel(self, L: int) -> torch.Tensor:
        """Real (H, L): K_m = 2 Re sum_n C_n Bbar_n lam_n^m (``kernels.ssm_kernel``); D excluded."""
        lam, Bbar, C = self.discrete()
        return kernels.ssm_kernel(lam, Bbar, C, L)

    def frequency_response(self, omega, L: int | None = None, include_D: bool = False) -> torch.Tensor:
        """Complex (H, F) transfer function at ``omega`` (``kernels.frequency_response``).

        ``L=None``: infinite-kernel H(w); ``L`` given: DTFT of the length-L kernel.
        The skip term D is excluded unless ``include_D`` (then D is added to every w).
        """
        lam, Bbar, C = self.discrete()
        omega = as_tensor(omega, "omega", complex_ok=False).to(device=lam.device, dtype=lam.real.dtype)
        Hw = kernels.frequency_response(lam, Bbar, C, omega, L)
        if include_D:
            Hw = Hw + self.D.unsqueeze(-1).to(Hw.real.dtype)
        return Hw

    def power_spectrum(self, L: int, include_D: bool = False) -> torch.Tensor:
        """Real (H, L//2+1): |H_L(w_j)|^2 on the rfft grid w_j = 2 pi j / L (D excluded by default).

        Equals ``|torch.fft.rfft(self.kernel(L))|^2`` (the exact length-L DFT of the kernel).
        """
        omega = kernels.rfft_grid(L, dtype=self.log_dt.dtype, device=self.log_dt.device)
        return self.frequency_response(omega, L=L, include_D=include_D).abs().square()

    # ------------------------------------------------------------------ forward
    def forward(self, u: torch.Tensor, check: bool = True) -> torch.Tensor:
        """u (batch, L, H) -> y (batch, L, H): causal convolution with K + D*u (``conv.causal_fft_conv``).

        ``check=False`` skips the two value checks (finite input, finite output), which read the data
        back (a sync per layer that also stops ``torch.compile`` / ``vmap``); a caller that checks its
        own input and output (``DeepSSM``) passes it. Shapes and dtypes are always checked.
        """
        if not isinstance(u, torch.Tensor):
            u = as_tensor(u, "u", complex_ok=False)
        if u.is_complex():
            raise ValueError(f"u: expected a real tensor, got complex dtype {u.dtype}")
        if u.dim() != 3:
            raise ValueError(f"u: expected shape (batch, L, d_model={self.d_model}), got {tuple(u.shape)}")
        if u.shape[-1] != self.d_model:
            raise ValueError(f"u: expected {self.d_model} channels in the last dimension, "
                             f"got shape {tuple(u.shape)}")
        if u.shape[1] < 1:
            raise ValueError(f"u: expected a sequence length >= 1, got shape {tuple(u.shape)}")
        u = u.to(dtype=self.log_dt.dtype, device=self.log_dt.device)
        if check and not bool(torch.isfinite(u).all()):
            raise ValueError("u: expected finite values, found NaN or inf")
        if u.shape[0] == 0:  # an empty batch: an empty output (FFT backends reject empty input)
            return u * self.D
        y = conv.causal_fft_conv(u, self.fast_kernel(u.shape[1]), self.D)
        return check_result(y, "u", "the layer output for this input") if check else y

    def fast_kernel(self, L: int) -> torch.Tensor:
        """:meth:`kernel` without the value checks (the forward's hot path; same arithmetic, same numbers)."""
        B = torch.complex(self.B[..., 0], self.B[..., 1])
        C = torch.complex(self.C[..., 0], self.C[..., 1])
        lam, Bbar = kernels.discretize_modes(self.A(), B, self.dt().unsqueeze(-1), self.discretization)
        return kernels.power_kernel(C * Bbar, torch.log(lam), L)

    # ------------------------------------------------------------------ edits / diagnostics
    @torch.no_grad()
    def set_parameters(self, *, A=None, B=None, C=None, dt=None, D=None, channels=None) -> None:
        """Overwrite parameters in place (e.g. after TDI).

        A, B, C: complex (rows, N2) (real input is promoted); dt, D: real (rows,), where
        rows = H, or len(channels) when ``channels`` (a sequence / 1-D tensor of channel
        indices) is given. A is converted to ``log_A_real = log(-Re A)``, ``A_imag = Im A``;
        dt to ``log_dt``. Everything is validated before anything is written, so a
        ValueError leaves the layer unchanged.
        """
        H, N2 = self.d_model, self.N2
        if channels is None:
            idx = torch.arange(H)
        else:
            try:
                idx = torch.as_tensor(channels)
            except (TypeError, ValueError, RuntimeError) as exc:
                raise ValueError(
                    f"channels: expected a 1-D sequence of integer channel indices, got {channels!r}") from exc
            if idx.dtype == torch.bool or idx.is_floating_point() or idx.is_complex() or idx.dim() != 1:
                raise ValueError(
                    f"channels: expected a 1-D sequence of integer channel indices, got {channels!r}")
            if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= H):
                raise ValueError(f"channels: indices must lie in [0, {H}), got {idx.tolist()}")
            if idx.unique().numel() != idx.numel():
                raise ValueError(f"channels: indices must be distinct, got {idx.tolist()}")
        rows = idx.numel()
        idx = idx.to(self.log_dt.device)

        def mode_tensor(x, name):
            t = as_tensor(x, name).to(torch.complex128)
            if tuple(t.shape) != (rows, N2):
                raise ValueError(f"{name}: expected shape ({rows}, {N2}), got {tuple(t.shape)}")
            if not bool(torch.isfinite(torch.view_as_real(t)).all()):
                raise ValueError(f"{name}: expected finite values, found NaN or inf")
            return t

        def channel_tensor(x, name):
            t = as_tensor(x, name, complex_ok=False).to(torch.float64)
            if tuple(t.shape) != (rows,):
                raise ValueError(f"{name}: expected shape ({rows},), got {tuple(t.shape)}")
            if not bool(torch.isfinite(t).all()):
                raise ValueError(f"{name}: expected finite values, found NaN or inf")
            return t

        pdtype = self.log_dt.dtype

        def stored(v, name, what):
            """v as it will be stored (the layer's dtype); it must stay finite there."""
            v = v.to(pdtype)
            if not bool(torch.isfinite(v).all()):
                raise ValueError(f"{name}: {what} overflows {pdtype}; the values are too large for this layer")
            return v

        writes = []
        if A is not None:
            At = mode_tensor(A, "A")
            if not bool((At.real < 0).all()):
                worst = float(At.real.max())
                raise ValueError(f"A: expected Re(A) < 0 (stable poles), found max Re(A) = {worst:.6g}")
            log_re = stored(torch.log(-At.real), "A", "log(-Re A)")
            if not bool((torch.exp(log_re) > 0).all() and torch.isfinite(torch.exp(log_re)).all()):
                raise ValueError(f"A: |Re A| must be representable in {pdtype} (it rounds to 0 or inf)")
            writes += [(self.log_A_real, log_re), (self.A_imag, stored(At.imag, "A", "Im A"))]
        if B is not None:
            writes.append((self.B, stored(torch.view_as_real(mode_tensor(B, "B")), "B", "B")))
        if C is not None:
            writes.append((self.C, stored(torch.view_as_real(mode_tensor(C, "C")), "C", "C")))
        if dt is not None:
            dtt = channel_tensor(dt, "dt")
            if not bool((dtt > 0).all()):
                raise ValueError(f"dt: expected values > 0, found min {float(dtt.min()):.6g}")
            log_dt = stored(torch.log(dtt), "dt", "log(dt)")
            back = torch.exp(log_dt)
            if not bool((back > 0).all() and torch.isfinite(back).all()):
                raise ValueError(f"dt: must be representable in {pdtype} (it rounds to 0 or inf)")
            writes.append((self.log_dt, log_dt))
        if D is not None:
            writes.append((self.D, stored(channel_tensor(D, "D"), "D", "D")))
        for p, v in writes:
            p.index_copy_(0, idx, v.to(dtype=p.dtype, device=p.device))

    @torch.no_grad()
    def aliasing_fraction(self) -> float:
        """Fraction of the H*N2 modes with dt * |Im a_n| > pi (pole past Nyquist, aliased)."""
        frac = (self.dt().unsqueeze(-1) * self.A_imag.abs() > math.pi).to(torch.float64).mean()
        return float(frac)

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, d_state={self.d_state}, init={self.init_name!r}, "
                f"discretization={self.discretization!r}, dtype={self.log_dt.dtype}")


def _ssm_layers_of(module, name: str = "module") -> list:
    """Every DiagonalSSM in ``module`` (the module itself if it is one); ValueError if none."""
    if not isinstance(module, nn.Module):
        raise ValueError(f"{name}: expected a torch.nn.Module containing DiagonalSSM layers, "
                         f"got {type(module).__name__}")
    found = [m for m in module.modules() if isinstance(m, DiagonalSSM)]
    if not found:
        raise ValueError(f"{name}: contains no DiagonalSSM layer")
    return found


def freeze_dynamics(module: nn.Module, frozen: bool = True) -> int:
    """Freeze (or unfreeze) the dynamics ``log_dt, log_A_real, A_imag, B`` of every DiagonalSSM in ``module``.

    Sets ``requires_grad`` of those parameters to ``not frozen``; C and D stay trainable, so the layer
    still learns how to weigh its modes but its poles (where |H(w)|^2 has its resonances) stay where the
    init put them. ``param_groups`` leaves frozen parameters out. Applies to any init: a frozen S4D-Lin
    layer is the control for a frozen TDI layer (issue 11). Returns the number of layers touched.
    """
    if not isinstance(frozen, bool):
        raise ValueError(f"frozen: expected True or False, got {frozen!r}")
    found = _ssm_layers_of(module)
    for m in found:
        for name in SSM_PARAM_NAMES:
            getattr(m, name).requires_grad_(not frozen)
    return len(found)


def set_dynamics_lr_scale(module: nn.Module, scale: float) -> int:
    """Train the dynamics of every DiagonalSSM in ``module`` at ``scale * ssm_lr`` (see :func:`param_groups`).

    Stored as the layer attribute ``dynamics_lr_scale`` (default 1 when absent); ``scale`` must be
    finite and > 0 (use :func:`freeze_dynamics` for 0). Returns the number of layers touched.
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (0 < float(scale) < math.inf):
        raise ValueError(f"scale: expected a finite number > 0, got {scale!r}")
    found = _ssm_layers_of(module)
    for m in found:
        m.dynamics_lr_scale = float(scale)
    return len(found)


def param_groups(model: nn.Module, lr: float, weight_decay: float, ssm_lr: float = 1e-3) -> list[dict]:
    """Optimizer param groups: the SSM dynamics at ``ssm_lr`` without weight decay.

    ``log_dt``, ``log_A_real``, ``A_imag`` and ``B`` of every :class:`DiagonalSSM` in
    ``model`` go in the first group (lr = ssm_lr, weight_decay = 0; the S4 convention);
    every other trainable parameter (C, D, linear layers, norms, ...) goes in the second
    (lr, weight_decay). A layer whose ``dynamics_lr_scale`` was set (:func:`set_dynamics_lr_scale`)
    gets its own group ``"ssm x<scale>"`` at lr = scale * ssm_lr. Empty groups are omitted.
    Parameters with ``requires_grad=False`` (e.g. :func:`freeze_dynamics`) are left out.
    """
    ssm_scale = {}
    for m in model.modules():
        if isinstance(m, DiagonalSSM):
            for name in SSM_PARAM_NAMES:
                ssm_scale[id(getattr(m, name))] = float(getattr(m, "dynamics_lr_scale", 1.0))
    ssm: dict[float, list] = {}
    other = []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        if id(p) in ssm_scale:
            ssm.setdefault(ssm_scale[id(p)], []).append(p)
        else:
            other.append(p)
    groups = []
    for scale in sorted(ssm, reverse=True):
        name = "ssm" if scale == 1.0 else f"ssm x{scale:g}"
        groups.append({"params": ssm[scale], "lr": ssm_lr * scale, "weight_decay": 0.0, "name": name})
    if other:
        groups.append({"params": other, "lr": lr, "weight_decay": weight_decay, "name": "other"})
    return groups
