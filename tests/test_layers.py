"""DiagonalSSM (ssm_tdi.layers): recurrence equivalence, kernel via ssm_tdi.kernels, edits, groups."""

import math

import numpy as np
import pytest
import torch

from ssm_tdi import kernels
from ssm_tdi.inits import INITS
from ssm_tdi.layers import DiagonalSSM, param_groups

INIT_KW = {"freqbias": {"alpha": 3.0}}


def make(init="s4d-lin", H=3, N=8, disc="zoh", dtype=torch.float64, seed=0, **kw):
    kw = {**INIT_KW.get(init, {}), **kw}
    return DiagonalSSM(H, N, init=init, discretization=disc, dtype=dtype,
                       generator=torch.Generator().manual_seed(seed), **kw)


def recurrence(layer, u):
    """Explicit complex recurrence x_k = lam x_{k-1} + Bbar u_k, y_k = 2 Re(C x_k) + D u_k (float64)."""
    with torch.no_grad():
        lam, Bbar, C = (t.detach().to(torch.complex128) for t in layer.discrete())
        D = layer.D.detach().to(torch.float64)
    u = u.to(torch.float64)
    Bsz, L, H = u.shape
    x = torch.zeros(Bsz, H, lam.shape[-1], dtype=torch.complex128)
    ys = []
    for k in range(L):
        x = lam * x + Bbar * u[:, k, :, None]
        ys.append(2 * (C * x).sum(-1).real + D * u[:, k])
    return torch.stack(ys, dim=1)


# ---------------------------------------------------------------- the math
@pytest.mark.parametrize("disc", ["zoh", "bilinear"])
@pytest.mark.parametrize("init", sorted(INITS))
def test_forward_equals_explicit_recurrence(init, disc):
    layer = make(init, H=3, N=8, disc=disc)
    u = torch.randn(2, 37, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = layer(u)
    ref = recurrence(layer, u)
    assert y.dtype == torch.float64 and y.shape == (2, 37, 3)
    rel = float((y - ref).norm() / ref.norm())
    assert rel <= 1e-10, rel


@pytest.mark.parametrize("disc", ["zoh", "bilinear"])
def test_kernel_is_kernels_ssm_kernel_and_discretize(disc):
    layer = make("s4d-inv", disc=disc)
    A = torch.complex(-torch.exp(layer.log_A_real), layer.A_imag).detach()
    B = torch.view_as_complex(layer.B).detach()
    C = torch.view_as_complex(layer.C).detach()
    dt = torch.exp(layer.log_dt).detach()
    lam, Bbar = kernels.discretize(A, B, dt[:, None], method=disc)
    with torch.no_grad():
        l2, b2, c2 = layer.discrete()
        assert torch.equal(l2, lam) and torch.equal(b2, Bbar) and torch.equal(c2, C)
        assert torch.equal(layer.kernel(50), kernels.ssm_kernel(lam, Bbar, C, 50))
        assert torch.equal(layer.A(), A) and torch.equal(layer.dt(), dt)
        omega = torch.linspace(0, math.pi, 7, dtype=torch.float64)
        assert torch.equal(layer.frequency_response(omega), kernels.frequency_response(lam, Bbar, C, omega))
        assert torch.equal(layer.frequency_response(omega, L=20),
                           kernels.frequency_response(lam, Bbar, C, omega, 20))
        Hd = layer.frequency_response(omega, include_D=True)
        torch.testing.assert_close(Hd, kernels.frequency_response(lam, Bbar, C, omega) + layer.D[:, None])


@pytest.mark.parametrize("L", [1, 16, 33])
def test_power_spectrum_is_rfft_of_kernel(L):
    layer = make("s4d-lin")
    with torch.no_grad():
        ps = layer.power_spectrum(L)
        ref = torch.fft.rfft(layer.kernel(L)).abs().square()
    assert ps.shape == (3, L // 2 + 1)
    torch.testing.assert_close(ps, ref, rtol=1e-9, atol=1e-9)


def test_float32_default_and_output_dtype():
    layer = DiagonalSSM(4, 8)
    assert all(p.dtype == torch.float32 for p in layer.parameters())
    y = layer(torch.randn(2, 10, 4, dtype=torch.float64))  # input cast to the layer's dtype
    assert y.dtype == torch.float32 and y.shape == (2, 10, 4)
    assert layer.discrete()[0].dtype == torch.complex64
    # float32 agrees with the float64 recurrence to single precision
    ref = recurrence(layer, torch.randn(2, 10, 4, generator=torch.Generator().manual_seed(5)))
    y = layer(torch.randn(2, 10, 4, generator=torch.Generator().manual_seed(5))).detach()
    assert float((y.double() - ref).norm() / ref.norm()) < 1e-5


def test_parameter_names_shapes():
    layer = make(H=5, N=12)
    shapes = {n: tuple(p.shape) for n, p in layer.named_parameters()}
    assert shapes == {"log_dt": (5,), "log_A_real": (5, 6), "A_imag": (5, 6), "B": (5, 6, 2),
                      "C": (5, 6, 2), "D": (5,)}
    assert layer.N2 == 6 and layer.d_state == 12 and layer.d_model == 5


def test_dt_log_uniform_in_range_and_seeded():
    layer = make(H=200, dt_min=1e-3, dt_max=1e-1)
    dt = layer.dt().detach()
    assert (dt >= 1e-3 * (1 - 1e-12)).all() and (dt <= 1e-1 * (1 + 1e-12)).all()
    other = make(H=200, dt_min=1e-3, dt_max=1e-1)
    assert all(torch.equal(a, b) for a, b in zip(layer.parameters(), other.parameters(), strict=True))
    diff = make(H=200, seed=1)
    assert not torch.equal(layer.log_dt, diff.log_dt)


def test_init_values_reach_the_layer():
    layer = make("s4d-inv", H=2, N=8)
    N, n = 8, np.arange(4)
    np.testing.assert_allclose(layer.A().detach()[1].numpy(),
                               -0.5 + 1j * (N / np.pi) * (N / (2 * n + 1) - 1), rtol=1e-12)
    lay_r = make("random", H=50, N=16, dt_max=0.02)  # random init inherits the layer's dt_max
    assert float(lay_r.aliasing_fraction()) == 0.0
    assert float(lay_r.A_imag.detach().max()) < math.pi / 0.02


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("disc", ["zoh", "bilinear"])
def test_gradients_reach_every_parameter(disc):
    layer = DiagonalSSM(3, 8, discretization=disc, generator=torch.Generator().manual_seed(0))
    u = torch.randn(2, 20, 3)
    layer(u).square().sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert float(p.grad.abs().sum()) > 0, name


def test_gradient_matches_finite_difference_float64():
    layer = make("s4d-lin", H=2, N=4)
    u = torch.randn(1, 12, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    w = torch.randn(1, 12, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))

    def loss():
        return (layer(u) * w).sum()

    loss().backward()
    for p in layer.parameters():
        g = p.grad.clone()
        flat = p.data.view(-1)
        i = int(flat.numel() // 2)
        eps = 1e-6
        with torch.no_grad():
            flat[i] += eps
            lp = float(loss())
            flat[i] -= 2 * eps
            lm = float(loss())
            flat[i] += eps
        assert (lp - lm) / (2 * eps) == pytest.approx(float(g.view(-1)[i]), rel=1e-5, abs=1e-8)


# ---------------------------------------------------------------- set_parameters
def test_set_parameters_round_trip():
    layer = make(H=3, N=8)
    g = torch.Generator().manual_seed(9)
    A = torch.complex(-torch.rand(3, 4, dtype=torch.float64, generator=g) - 0.1,
                      torch.randn(3, 4, dtype=torch.float64, generator=g))
    B = torch.randn(3, 4, dtype=torch.complex128, generator=g)
    C = torch.randn(3, 4, dtype=torch.complex128, generator=g)
    dt = torch.tensor([0.01, 0.2, 1.5], dtype=torch.float64)
    D = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    layer.set_parameters(A=A, B=B, C=C, dt=dt, D=D)
    torch.testing.assert_close(layer.A().detach(), A, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(layer.B_complex().detach(), B, rtol=0, atol=0)
    torch.testing.assert_close(layer.C_complex().detach(), C, rtol=0, atol=0)
    torch.testing.assert_close(layer.dt().detach(), dt, rtol=1e-14, atol=0)
    torch.testing.assert_close(layer.D.detach(), D, rtol=0, atol=0)
    assert all(isinstance(p, torch.nn.Parameter) for p in layer.parameters())


def test_set_parameters_channels_subset_and_float32():
    layer = DiagonalSSM(4, 6, generator=torch.Generator().manual_seed(0))
    before = {n: p.detach().clone() for n, p in layer.named_parameters()}
    A = torch.tensor([[-1 + 2j, -0.5 + 0j, -3 - 1j], [-0.2 + 5j, -0.3 + 6j, -0.4 + 7j]])
    layer.set_parameters(A=A, dt=[0.5, 0.25], channels=[3, 1])
    got = layer.A().detach()
    torch.testing.assert_close(got[3], A[0].to(torch.complex64))
    torch.testing.assert_close(got[1], A[1].to(torch.complex64))
    torch.testing.assert_close(layer.dt().detach()[[3, 1]], torch.tensor([0.5, 0.25]))
    for n in ("log_A_real", "A_imag", "log_dt"):
        assert torch.equal(getattr(layer, n).detach()[[0, 2]], before[n][[0, 2]]), n
    for n in ("B", "C", "D"):
        assert torch.equal(getattr(layer, n).detach(), before[n]), n
    assert layer.log_A_real.dtype == torch.float32


@pytest.mark.parametrize("kwargs, match", [
    (dict(A=torch.full((3, 4), 0.1 + 1j)), r"Re\(A\) < 0"),
    (dict(A=torch.full((3, 4), 0.0 + 1j)), r"Re\(A\) < 0"),
    (dict(A=torch.full((3, 5), -1 + 0j)), r"A: expected shape \(3, 4\)"),
    (dict(A=torch.full((3, 4), complex(-1, float("nan")))), "A: expected finite"),
    (dict(B=torch.full((2, 4), 1 + 0j)), r"B: expected shape \(3, 4\)"),
    (dict(C=torch.full((3, 4), complex(float("inf"), 0))), "C: expected finite"),
    (dict(dt=torch.tensor([0.1, 0.0, 0.2])), "dt: expected values > 0"),
    (dict(dt=torch.tensor([0.1, -1.0, 0.2])), "dt: expected values > 0"),
    (dict(dt=torch.tensor([0.1, 0.2])), r"dt: expected shape \(3,\)"),
    (dict(dt=torch.tensor([0.1, float("nan"), 0.2])), "dt: expected finite"),
    (dict(D=torch.ones(3, dtype=torch.complex128)), "D: expected real"),
    (dict(D=torch.ones(3), channels=[0, 5]), "channels"),
    (dict(D=torch.ones(2), channels=[1, 1]), "distinct"),
    (dict(D=torch.ones(2), channels=[0.0, 1.0]), "channels"),
])
def test_set_parameters_errors_leave_layer_unchanged(kwargs, match):
    layer = make(H=3, N=8)
    before = [p.detach().clone() for p in layer.parameters()]
    with pytest.raises(ValueError, match=match):
        # a valid D rides along: validation must reject the whole call before any write
        layer.set_parameters(**({"D": torch.ones(3)} | kwargs))
    assert all(torch.equal(a, b) for a, b in zip(before, layer.parameters(), strict=True))


# ---------------------------------------------------------------- aliasing_fraction
def test_aliasing_fraction_constructed():
    layer = make(H=2, N=8)
    # dt = 0.1 on both channels; Nyquist pole at |Im a| = pi/dt = 31.4159...
    imag = torch.tensor([[0.0, 10.0, 31.0, 32.0], [-40.0, 5.0, 100.0, -1.0]], dtype=torch.float64)
    layer.set_parameters(A=torch.complex(-0.5 * torch.ones(2, 4, dtype=torch.float64), imag),
                         dt=torch.tensor([0.1, 0.1]))
    assert layer.aliasing_fraction() == pytest.approx(3 / 8)  # 32, -40, 100
    layer.set_parameters(dt=torch.tensor([1e-3, 1e-3]))
    assert layer.aliasing_fraction() == 0.0
    # S4D-Lin with N2 = 32 poles up to 31*pi: pole n aliases when dt*n > 1
    lin = make("s4d-lin", H=1, N=64)
    lin.set_parameters(dt=torch.tensor([0.045]))
    assert lin.aliasing_fraction() == pytest.approx(9 / 32)  # n = 23..31 have 0.045*pi*n > pi


# ---------------------------------------------------------------- param_groups
def test_param_groups_split():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), make(H=3, N=4), make(H=3, N=4, seed=1))
    groups = param_groups(model, lr=0.01, weight_decay=0.1, ssm_lr=1e-3)
    assert [g["name"] for g in groups] == ["ssm", "other"]
    ssm, other = groups
    assert ssm["lr"] == 1e-3 and ssm["weight_decay"] == 0.0
    assert other["lr"] == 0.01 and other["weight_decay"] == 0.1
    ssm_ids = {id(p) for p in ssm["params"]}
    expected = {id(getattr(m, n)) for m in model[1:] for n in ("log_dt", "log_A_real", "A_imag", "B")}
    assert ssm_ids == expected
    other_ids = {id(p) for p in other["params"]}
    assert {id(model[1].C), id(model[1].D), id(model[0].weight), id(model[0].bias)} <= other_ids
    assert len(ssm_ids) + len(other_ids) == len(list(model.parameters()))
    opt = torch.optim.AdamW(groups)  # accepted by a real optimizer
    assert len(opt.param_groups) == 2
    only = param_groups(torch.nn.Linear(2, 2), 0.1, 0.0)
    assert [g["name"] for g in only] == ["other"]


# ---------------------------------------------------------------- input checks
def test_forward_input_errors():
    layer = make(H=3, N=8)
    with pytest.raises(ValueError, match="expected shape"):
        layer(torch.randn(10, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="3 channels"):
        layer(torch.randn(2, 10, 4, dtype=torch.float64))
    bad = torch.randn(2, 10, 3, dtype=torch.float64)
    bad[1, 4, 2] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        layer(bad)
    bad[1, 4, 2] = float("inf")
    with pytest.raises(ValueError, match="finite"):
        layer(bad)
    with pytest.raises(ValueError, match="complex"):
        layer(torch.randn(2, 10, 3, dtype=torch.complex128))
    with pytest.raises(ValueError, match="length"):
        layer(torch.randn(2, 0, 3, dtype=torch.float64))


@pytest.mark.parametrize("kwargs, match", [
    (dict(d_state=7), "d_state: expected an even"),
    (dict(init="nope"), "valid names: freqbias, random, s4d-inv, s4d-legs, s4d-lin"),
    (dict(discretization="euler"), "discretization"),
    (dict(dtype=torch.float16), "dtype"),
    (dict(d_state=0), "d_state"),
    (dict(init="freqbias"), "alpha is required"),
    (dict(init="s4d-lin", alpha=2.0), "bad keyword"),
    (dict(dt_min=0.2, dt_max=0.1), "dt_min <= dt_max"),
])
def test_constructor_errors(kwargs, match):
    args = dict(d_model=3, d_state=8)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        DiagonalSSM(**args)


def test_length_one_and_causality():
    layer = make(H=2, N=4)
    u = torch.randn(1, 1, 2, dtype=torch.float64)
    with torch.no_grad():
        y = layer(u)
        k0 = layer.kernel(1)[:, 0]
    torch.testing.assert_close(y[0, 0], (k0 + layer.D) * u[0, 0])
    u = torch.randn(1, 30, 2, dtype=torch.float64)
    u2 = u.clone()
    u2[:, 20:] = torch.randn(1, 10, 2, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(layer(u)[:, :20], layer(u2)[:, :20]) or torch.allclose(
            layer(u)[:, :20], layer(u2)[:, :20], rtol=0, atol=1e-13)


# ---------------------------------------------------------------- CUDA
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available on this machine")
def test_cuda_matches_cpu():
    cpu = make("s4d-legs", H=4, N=16, dtype=torch.float64)
    gpu = make("s4d-legs", H=4, N=16, dtype=torch.float64).cuda()
    u = torch.randn(3, 64, 4, dtype=torch.float64)
    y_cpu = cpu(u)
    y_gpu = gpu(u.cuda())
    assert y_gpu.device.type == "cuda"
    torch.testing.assert_close(y_gpu.cpu(), y_cpu, rtol=1e-10, atol=1e-12)
    assert gpu.power_spectrum(64).device.type == "cuda"
    y_gpu.square().sum().backward()
    assert all(p.grad is not None and p.grad.device.type == "cuda" for p in gpu.parameters())
    gpu.set_parameters(dt=torch.full((4,), 0.05), channels=[0, 1, 2, 3])
    assert gpu.log_dt.device.type == "cuda"
    g32 = DiagonalSSM(4, 8, device="cuda")
    assert g32(torch.randn(2, 16, 4, device="cuda")).dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("disc", ["zoh", "bilinear"])
def test_fast_kernel_is_the_checked_kernel(dtype, disc):
    """The forward's unchecked kernel path does the same arithmetic as kernel(L): equal bit for bit."""
    layer = DiagonalSSM(5, 8, discretization=disc, dtype=dtype, generator=torch.Generator().manual_seed(0))
    for L in (1, 30, 257):
        assert torch.equal(layer.fast_kernel(L), layer.kernel(L))


def test_unchecked_forward_equals_checked_and_skips_value_checks():
    layer = DiagonalSSM(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    u = torch.randn(2, 11, 3, dtype=torch.float64)
    assert torch.equal(layer(u, check=False), layer(u))
    bad = u.clone()
    bad[0, 3, 1] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        layer(bad)
    y = layer(bad, check=False)  # NaN propagates instead of raising (the FFT spreads it over the channel)
    assert torch.isnan(y[0, :, 1]).all() and torch.isfinite(y[1]).all() and torch.isfinite(y[0][:, [0, 2]]).all()
    with pytest.raises(ValueError, match="channels"):  # shapes are checked either way
        layer(torch.randn(2, 11, 4, dtype=torch.float64), check=False)
