"""Causal convolution of a (batch, L, H) signal with per-channel kernels by FFT, with its own backward.

    y[b, t, h] = sum_{j <= t} K[h, j] u[b, t - j, h] + D[h] u[b, t, h],   t = 0..L-1

Zero-padding to any n >= 2L - 1 makes the length-n circular convolution equal the linear one on t < L
(the linear convolution of two length-L signals has 2L - 1 terms), and
the skip term is folded into the kernel's spectrum (D u is the convolution with D delta, whose DFT is
D at every frequency): Y = U (K_f + D), one rfft of u, one of K, one irfft.

Backward (g = dLoss/dy, zero-padded to n; G its rfft): the adjoint of a circular convolution is the
circular correlation, exact here because every wrapped index lands in the zero padding:

    dL/du = irfft(G conj(K_f + D))[:L]
    dL/dK[h, j] = sum_{b,t} g[b, t, h] u[b, t - j, h] = irfft(sum_b G conj(U))[j],  j < L
    dL/dD[h] = sum_{b,t} g u = dL/dK[h, 0]  (D enters exactly like K[h, 0])

so one rfft of g and two irffts, with U saved from the forward. n is the smallest 5-smooth number
>= 2L - 1 (:func:`fft_length`): 2L itself can have a large prime factor (L = 1460: 2920 = 2^3 5 73),
where the FFT is ~3x slower than at the 5-smooth 3000 (benchmarks/RESULTS.md). Autograd through the same three
FFT calls would also transform g twice and differentiate the padding and slicing separately.
The function is written in the ``setup_context`` style with ``generate_vmap_rule`` so that it runs
under ``torch.func.vmap`` (the batched ensembles of :mod:`ssm_tdi.ensemble`).
"""

from __future__ import annotations

import torch

__all__ = ["causal_fft_conv", "fft_length"]


def fft_length(m: int) -> int:
    """The smallest n >= m whose only prime factors are 2, 3 and 5 (a fast FFT length)."""
    n = max(1, int(m))
    while True:
        r = n
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return n
        n += 1


class _CausalFFTConv(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(u, K, D):
        # spectra in the (..., H, frequency) layout: FFTs along the last, contiguous axis of a transposed
        # view are ~25% faster on CPU than along axis -2 of (..., L, H) (benchmarks/RESULTS.md)
        L = u.shape[-2]
        n = fft_length(2 * L - 1)
        uf = torch.fft.rfft(u.transpose(-1, -2), n=n)  # (..., H, L+1)
        kf = torch.fft.rfft(K, n=n) + D.unsqueeze(-1)  # (H, L+1)
        # contiguous (..., L, H), like the input: downstream ops (dropout masks drawn by empty_like) then see
        # the same memory layout whatever the FFT layout was
        y = torch.fft.irfft(uf * kf, n=n)[..., :L].transpose(-1, -2).contiguous()
        return y, uf, kf

    @staticmethod
    def setup_context(ctx, inputs, output):
        u, _, _ = inputs
        _, uf, kf = output
        ctx.mark_non_differentiable(uf, kf)
        ctx.save_for_backward(uf, kf)
        ctx.L = u.shape[-2]
        ctx.batch_dims = u.dim() - 2

    @staticmethod
    def backward(ctx, gy, _guf, _gkf):
        uf, kf = ctx.saved_tensors
        L, n = ctx.L, fft_length(2 * ctx.L - 1)
        gf = torch.fft.rfft(gy.transpose(-1, -2), n=n)  # (..., H, L+1)
        grad_u = grad_K = grad_D = None
        if ctx.needs_input_grad[0]:
            grad_u = torch.fft.irfft(gf * kf.conj(), n=n)[..., :L].transpose(-1, -2)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            cross = gf * uf.conj()
            if ctx.batch_dims:
                cross = cross.sum(dim=tuple(range(ctx.batch_dims)))
            gk = torch.fft.irfft(cross, n=n)[..., :L]  # (H, L)
            grad_K = gk if ctx.needs_input_grad[1] else None
            grad_D = gk[..., 0] if ctx.needs_input_grad[2] else None
        return grad_u, grad_K, grad_D


def causal_fft_conv(u: torch.Tensor, K: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
    """y = causal_conv(K, u) + D u for u (..., L, H) real, K (H, L), D (H,), all of one real dtype.

    No input checks (the layer's hot path; :class:`ssm_tdi.layers.DiagonalSSM` validates).
    """
    return _CausalFFTConv.apply(u, K, D)[0]
