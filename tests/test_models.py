"""DeepSSM (ssm_tdi.models): shapes, masking, tokens, determinism, layer_inputs."""

import pytest
import torch

from ssm_tdi.layers import DiagonalSSM, param_groups
from ssm_tdi.models import DeepSSM


def model(**kw):
    args = dict(d_input=3, d_output=5, d_model=8, d_state=8, n_layers=2, seed=0)
    args.update(kw)
    return DeepSSM(**args)


def x_real(b=4, L=20, d=3, seed=1, dtype=torch.float32):
    return torch.randn(b, L, d, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def test_classification_shape():
    m = model()
    y = m(x_real())
    assert y.shape == (4, 5) and y.dtype == torch.float32


@pytest.mark.parametrize("task", ["regression", "seq2seq"])
def test_regression_shape(task):
    m = model(task=task, d_output=2)
    y = m(x_real())
    assert y.shape == (4, 20, 2)


def test_ssm_layers_in_order():
    m = model(n_layers=3)
    layers = m.ssm_layers
    assert len(layers) == 3 and all(isinstance(l, DiagonalSSM) for l in layers)
    assert [id(l) for l in layers] == [id(b.ssm) for b in m.blocks]
    assert layers[0].d_model == 8 and layers[0].d_state == 8


def test_options_reach_layers():
    m = model(init="freqbias", init_kwargs={"alpha": 2.0}, discretization="bilinear", d_state=6)
    for l in m.ssm_layers:
        assert l.init_name == "freqbias" and l.discretization == "bilinear" and l.N2 == 3
        torch.testing.assert_close(l.A_imag.detach()[0], 2.0 * torch.pi * torch.arange(3.0))


def test_float64_option():
    m = model(dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in m.parameters())
    assert m(x_real()).dtype == torch.float64


@pytest.mark.parametrize("pool", ["mean", "max"])
@pytest.mark.parametrize("pad_side", ["right", "left"])
def test_mask_padded_positions_do_not_change_pooled_output(pad_side, pool):
    m = model(dropout=0.0, pool=pool).eval()
    L_valid, L_pad = 13, 7
    x = x_real(b=2, L=L_valid)
    with torch.no_grad():
        ref = m(x)
        junk = 100 * torch.randn(2, L_pad, 3)
        xp = torch.cat([x, junk], 1) if pad_side == "right" else torch.cat([junk, x], 1)
        mask = torch.zeros(2, L_valid + L_pad, dtype=torch.bool)
        if pad_side == "right":
            mask[:, :L_valid] = True
        else:
            mask[:, L_pad:] = True
        out = m(xp, mask=mask)
        out_nomask = m(xp)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out_nomask, ref, atol=1e-3)


@pytest.mark.parametrize("pool", ["mean", "max"])
def test_pool_by_hand(pool):
    m = model(dtype=torch.float64, pool=pool).eval()
    x = x_real(dtype=torch.float64)
    with torch.no_grad():
        h = m._trunk(x, None)
        by_hand = m.head(h.mean(dim=1) if pool == "mean" else h.max(dim=1).values)
        torch.testing.assert_close(m(x), by_hand, rtol=0, atol=0)
    assert m.pool == pool


@pytest.mark.parametrize("bad", ["sum", "", None, 1])
def test_pool_bad_value_names_argument(bad):
    with pytest.raises(ValueError, match="pool"):
        model(pool=bad)


def test_mask_variable_lengths_in_one_batch():
    m = model(dtype=torch.float64).eval()
    lengths = [5, 11, 17]
    Lmax = max(lengths)
    xs = [x_real(b=1, L=n, seed=10 + i, dtype=torch.float64) for i, n in enumerate(lengths)]
    batch = torch.zeros(3, Lmax, 3, dtype=torch.float64)
    mask = torch.zeros(3, Lmax, dtype=torch.bool)
    for i, (xi, n) in enumerate(zip(xs, lengths, strict=True)):
        batch[i, :n] = xi[0]
        batch[i, n:] = 7.0  # garbage padding
        mask[i, :n] = True
    with torch.no_grad():
        out = m(batch, mask=mask)
        for i, xi in enumerate(xs):
            torch.testing.assert_close(out[i], m(xi)[0], rtol=1e-10, atol=1e-10)


def test_mask_errors():
    m = model()
    x = x_real(b=2, L=6)
    with pytest.raises(ValueError, match="boolean"):
        m(x, mask=torch.ones(2, 6))
    with pytest.raises(ValueError, match="shape"):
        m(x, mask=torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one valid"):
        m(x, mask=torch.tensor([[True] * 6, [False] * 6]))


def test_token_input():
    m = model(vocab_size=11, d_input=1)
    tok = torch.randint(0, 11, (3, 15), generator=torch.Generator().manual_seed(0))
    y = m(tok)
    assert y.shape == (3, 5)
    assert isinstance(m.encoder, torch.nn.Embedding)
    with pytest.raises(ValueError, match="token ids must lie"):
        m(torch.full((2, 4), 11))
    with pytest.raises(ValueError, match="integer token ids"):
        m(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"\(batch, L\)"):
        m(torch.zeros(2, 4, 1, dtype=torch.long))
    mr = model(vocab_size=11, task="regression", d_output=1)
    assert mr(tok).shape == (3, 15, 1)


def test_input_errors():
    m = model()
    with pytest.raises(ValueError, match="d_input=3"):
        m(torch.randn(2, 10, 4))
    bad = x_real()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        m(bad)
    for kw, match in [(dict(task="forecast"), "task"), (dict(dropout=1.0), "dropout"),
                      (dict(n_layers=0), "n_layers"), (dict(init="bogus"), "valid names"),
                      (dict(vocab_size=0), "vocab_size"), (dict(d_state=5), "even"),
                      (dict(seed=0, generator=torch.Generator()), "at most one")]:
        with pytest.raises(ValueError, match=match):
            model(**kw)


def test_d_input_one_accepts_2d():
    m = model(d_input=1)
    x = torch.randn(2, 9)
    torch.testing.assert_close(m(x), m(x.unsqueeze(-1)))


def test_deterministic_given_seed_and_global_rng_untouched():
    state = torch.random.get_rng_state()
    a, b = model(seed=123), model(seed=123)
    assert torch.equal(state, torch.random.get_rng_state())
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert na == nb and torch.equal(pa, pb), na
    c = model(seed=124)
    assert not torch.equal(a.encoder.weight, c.encoder.weight)
    assert not torch.equal(a.ssm_layers[0].C, c.ssm_layers[0].C)
    # layers in one model are initialized independently
    assert not torch.equal(a.ssm_layers[0].C, a.ssm_layers[1].C)
    x = x_real()
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    d, e = model(seed=None, generator=g1), model(seed=None, generator=g2)
    assert all(torch.equal(p, q) for p, q in zip(d.parameters(), e.parameters(), strict=True))


def test_layer_inputs_consistent_with_forward():
    m = model(n_layers=3, dropout=0.3)
    m.train()
    x = x_real()
    mask = torch.ones(4, 20, dtype=torch.bool)
    mask[1, 15:] = False
    captured = []
    hooks = [l.register_forward_pre_hook(lambda mod, args: captured.append(args[0].detach()))
             for l in m.ssm_layers]
    m.eval()
    with torch.no_grad():
        m(x, mask=mask)
    m.train()
    for h in hooks:
        h.remove()
    ins = m.layer_inputs(x, mask=mask)
    assert m.training  # training flag restored
    assert len(ins) == 3
    for a, b in zip(ins, captured, strict=True):
        assert a.shape == (4, 20, 8) and not a.requires_grad
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert float(ins[0][1, 15:].abs().max()) == 0.0  # padded positions fed as zeros
    # first layer's input is LayerNorm(encoder(x))
    with torch.no_grad():
        first = m.blocks[0].norm(m.encoder(x)) * mask.unsqueeze(-1)
    torch.testing.assert_close(ins[0], first)


def test_gradients_reach_all_parameters_and_param_groups():
    m = model(dropout=0.1)
    m(x_real()).square().sum().backward()
    for n, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n
        assert float(p.grad.abs().sum()) > 0, n
    groups = param_groups(m, lr=1e-2, weight_decay=0.05)
    n_ssm = sum(len(g["params"]) for g in groups if g["name"] == "ssm")
    assert n_ssm == 4 * 2
    assert sum(len(g["params"]) for g in groups) == len(list(m.parameters()))


def test_short_training_reduces_loss():
    torch.manual_seed(0)
    m = model(task="regression", d_input=1, d_output=1, d_model=8, d_state=8, n_layers=1)
    x = torch.randn(16, 32, 1, generator=torch.Generator().manual_seed(0))
    y = torch.cumsum(x, dim=1) * 0.1  # a causal linear target
    opt = torch.optim.AdamW(param_groups(m, lr=1e-2, weight_decay=0.0, ssm_lr=1e-2))
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = (m(x) - y).square().mean()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available on this machine")
def test_model_on_cuda():
    m = model().cuda()
    y = m(x_real().cuda(), mask=torch.ones(4, 20, dtype=torch.bool, device="cuda"))
    assert y.device.type == "cuda"
    torch.testing.assert_close(y.cpu(), model()(x_real()), rtol=1e-4, atol=1e-4)


def test_training_with_dropout_is_a_function_of_its_arguments_alone():
    """Dropout draws from the global RNG; train() seeds it from config.seed inside a fork, so the
    same call gives the same model whatever ran before it, and the caller's RNG is untouched."""
    from ssm_tdi.training import TrainConfig, train

    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(24, 16, 1, generator=g), torch.randint(0, 3, (24,), generator=g)
    runs = []
    for pre in (1, 2):
        torch.manual_seed(pre)  # a different global state before each run
        before = torch.get_rng_state()
        m = DeepSSM(1, 3, d_model=8, d_state=8, n_layers=2, dropout=0.3, seed=5)
        train(m, X, y, TrainConfig(task="classification", epochs=3, batch_size=8, seed=7))
        assert torch.equal(torch.get_rng_state(), before)
        runs.append(m.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
