"""ssm_tdi.conv: the FFT causal convolution and its hand-written backward, in float64."""

import pytest
import torch

from ssm_tdi.conv import causal_fft_conv, fft_length


def direct_conv(u, K, D):
    """y[b, t, h] = sum_{j <= t} K[h, j] u[b, t - j, h] + D[h] u[b, t, h], by the definition (loops over j)."""
    L = u.shape[-2]
    y = D * u
    for j in range(L):
        y = y + torch.nn.functional.pad(u[..., :L - j, :], (0, 0, j, 0)) * K[:, j]
    return y


def _inputs(shape, L, H, seed):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(*shape, L, H, dtype=torch.float64, generator=g)
    K = torch.randn(H, L, dtype=torch.float64, generator=g)
    D = torch.randn(H, dtype=torch.float64, generator=g)
    return u, K, D


@pytest.mark.parametrize("L", [1, 2, 7, 64])
def test_matches_direct_convolution(L):
    u, K, D = _inputs((3,), L, 4, L)
    y = causal_fft_conv(u, K, D)
    ref = direct_conv(u, K, D)
    # FFT round-off: ~ eps * log2(2L) * sum|K||u| per entry; 1e-12 is ~50x above it at L = 64
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(2,), (2, 3), ()])
def test_gradcheck_float64(shape):
    """The hand-written backward (one rfft of g, two irffts, D folded into K) against finite differences."""
    u, K, D = (t.requires_grad_(True) for t in _inputs(shape, 9, 3, 1))
    assert torch.autograd.gradcheck(causal_fft_conv, (u, K, D), eps=1e-6, atol=1e-8, rtol=1e-6)


def test_backward_matches_autograd_of_direct():
    u, K, D = (t.requires_grad_(True) for t in _inputs((2,), 33, 5, 2))
    gy = torch.randn(2, 33, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    g1 = torch.autograd.grad((causal_fft_conv(u, K, D) * gy).sum(), (u, K, D))
    g2 = torch.autograd.grad((direct_conv(u, K, D) * gy).sum(), (u, K, D))
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_only_requested_gradients():
    u, K, D = _inputs((2,), 5, 2, 4)
    K.requires_grad_(True)
    (gk,) = torch.autograd.grad(causal_fft_conv(u, K, D).sum(), (K,))
    assert gk.shape == K.shape and u.grad is None and D.grad is None


def test_vmap_over_members_equals_loop():
    """generate_vmap_rule: a stack of (u, K, D) under vmap gives each member's own output and gradients."""
    us, Ks, Ds = zip(*(_inputs((2,), 11, 3, s) for s in range(3)), strict=True)
    U, Kst, Dst = (torch.stack(t).requires_grad_(True) for t in (us, Ks, Ds))
    Y = torch.func.vmap(causal_fft_conv)(U, Kst, Dst)
    Y.square().sum().backward()
    for i in range(3):
        u, K, D = (t.clone().requires_grad_(True) for t in (us[i], Ks[i], Ds[i]))
        y = causal_fft_conv(u, K, D)
        torch.testing.assert_close(Y[i], y, rtol=0, atol=1e-13)
        y.square().sum().backward()
        for a, b in ((U.grad[i], u.grad), (Kst.grad[i], K.grad), (Dst.grad[i], D.grad)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_fft_length_is_the_smallest_5_smooth_at_least_m():
    def smooth(n):
        for p in (2, 3, 5):
            while n % p == 0:
                n //= p
        return n == 1

    for m in range(1, 400):
        n = fft_length(m)
        assert n >= m and smooth(n) and not any(smooth(k) for k in range(m, n))
    assert fft_length(2 * 1460 - 1) == 3000  # 2920 = 2^3 5 73 is avoided


@pytest.mark.parametrize("L", [13, 73, 251])
def test_exact_at_lengths_whose_padding_is_not_2L(L):
    """n = fft_length(2L - 1) < 2L or > 2L (L = 13: 25; 73: 150; 251: 512): still the linear convolution."""
    u, K, D = _inputs((2,), L, 3, L)
    torch.testing.assert_close(causal_fft_conv(u, K, D), direct_conv(u, K, D), rtol=0, atol=1e-12)
    u, K, D = (t.requires_grad_(True) for t in _inputs((2,), L, 2, L + 1))
    gy = torch.randn(2, L, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    g1 = torch.autograd.grad((causal_fft_conv(u, K, D) * gy).sum(), (u, K, D))
    g2 = torch.autograd.grad((direct_conv(u, K, D) * gy).sum(), (u, K, D))
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-11)
