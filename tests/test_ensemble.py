"""ssm_tdi.ensemble: E runs trained as one batched ensemble end where E one-at-a-time runs end."""

import copy

import pytest
import torch

from ssm_tdi.ensemble import train_ensemble
from ssm_tdi.models import DeepSSM
from ssm_tdi.training import TrainConfig, train

SEEDS = (0, 1, 2)


def _model(seed, dtype, task="classification", dropout=0.2, init="s4d-lin", d_output=3):
    kw = {"alpha": 2.0} if init == "freqbias" else None
    return DeepSSM(2, d_output, d_model=8, d_state=8, n_layers=2, dropout=dropout, init=init, task=task,
                   dtype=dtype, seed=seed, init_kwargs=kw)


def _data(seed, n, L=12, task="classification", masked=True):
    g = torch.Generator().manual_seed(100 + seed)
    X = torch.randn(n, L, 2, generator=g)
    y = torch.randint(0, 3, (n,), generator=g) if task == "classification" else torch.randn(n, L, 3, generator=g)
    mask = None
    if masked:
        mask = torch.ones(n, L, dtype=torch.bool)
        mask[::3, L - 4:] = False  # every third sequence right-padded
    return X, y, mask


def _pair(dtype, cfg_kw, task="classification", dropout=0.2, masked=True, inits=None, n=22, n_val=7):
    """(single-run models and results, ensemble models and results) for SEEDS."""
    inits = inits or ["s4d-lin"] * len(SEEDS)
    models = [_model(s, dtype, task, dropout, init=i) for s, i in zip(SEEDS, inits, strict=True)]
    ens_models = [copy.deepcopy(m) for m in models]
    data = [_data(s, n, task=task, masked=masked) for s in SEEDS]
    val = [_data(s + 50, n_val, task=task, masked=masked) for s in SEEDS]
    cfgs = [TrainConfig(task=task, seed=s, **cfg_kw) for s in SEEDS]
    singles = []
    for m, (X, y, mk), (Xv, yv, mv), c in zip(models, data, val, cfgs, strict=True):
        singles.append(train(m, X, y, c, X_val=Xv, y_val=yv, mask=mk, mask_val=mv))
    ens = train_ensemble(ens_models, data, cfgs, val_data=val)
    return models, singles, ens_models, ens


CFG = dict(epochs=6, batch_size=8, lr=0.01, ssm_lr=0.003, weight_decay=0.01, grad_clip=1.0)


def test_float64_ensemble_equals_single_runs():
    """Same seeds -> same per-member losses, best epochs, steps and final weights.

    Tolerance: the only differences are summation orders (batched matmuls/reductions, the clipping norm
    reduced per member row) at ~1e-16 relative per op in float64; over ~20 Adam steps with updates of
    size ~lr they stay far below 1e-9 (measured max ~1e-13), so 1e-9 separates rounding from any real
    difference (a different batch order or dropout mask changes the losses at the 1e-2 level).
    """
    models, singles, ens_models, ens = _pair(torch.float64, dict(CFG, patience=2))
    for e, (a, b) in enumerate(zip(singles, ens, strict=True)):
        assert a.steps == b.steps and a.best_epoch == b.best_epoch, e
        torch.testing.assert_close(torch.tensor(b.train_loss), torch.tensor(a.train_loss), rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(torch.tensor(b.val_loss), torch.tensor(a.val_loss), rtol=1e-9, atol=1e-12)
    for m1, m2 in zip(models, ens_models, strict=True):
        for (n1, p1), (_n2, p2) in zip(m1.named_parameters(), m2.named_parameters(), strict=True):
            torch.testing.assert_close(p2, p1, rtol=1e-9, atol=1e-11, msg=n1)


def test_early_stopping_differs_per_member():
    """patience=1 over 8 epochs: members stop at their own epochs; each keeps its own history and best state."""
    _, singles, _, ens = _pair(torch.float64, dict(CFG, epochs=8, patience=1, lr=0.05))
    assert len({len(r.val_loss) for r in singles}) > 1 or len({r.best_epoch for r in singles}) > 1
    for a, b in zip(singles, ens, strict=True):
        assert len(a.val_loss) == len(b.val_loss) and a.best_epoch == b.best_epoch and a.steps == b.steps


def test_float32_regression_inits_no_mask():
    """float32, regression, no mask, members of different inits sharing the architecture.

    float32 rounding (eps 6e-8) grows over the steps; the losses agree to 1e-4 relative (measured ~1e-6),
    while a wrong data order or dropout mask moves them by >1e-2.
    """
    models, singles, ens_models, ens = _pair(torch.float32, dict(CFG, epochs=3), task="regression", masked=False,
                                             inits=["s4d-lin", "s4d-legs", "freqbias"])
    for a, b in zip(singles, ens, strict=True):
        torch.testing.assert_close(torch.tensor(b.train_loss), torch.tensor(a.train_loss), rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(torch.tensor(b.val_loss), torch.tensor(a.val_loss), rtol=1e-4, atol=1e-6)


def test_detects_a_wrong_dropout_stream():
    """The comparison can fail: members fed with shifted seeds give other losses (dropout and data order)."""
    models = [_model(s, torch.float64) for s in SEEDS]
    data = [_data(s, 22) for s in SEEDS]
    single = [train(copy.deepcopy(m), *d[:2], TrainConfig(task="classification", seed=s, **CFG), mask=d[2])
              for m, d, s in zip(models, data, SEEDS, strict=True)]
    shifted = train_ensemble([copy.deepcopy(m) for m in models], data,
                             [TrainConfig(task="classification", seed=s + 7, **CFG) for s in SEEDS])
    diffs = [abs(a.train_loss[-1] - b.train_loss[-1]) for a, b in zip(single, shifted, strict=True)]
    assert min(diffs) > 1e-6, diffs


def test_bad_members_are_named():
    m = [_model(0, torch.float64), _model(1, torch.float64, dropout=0.1)]
    d = [_data(0, 8), _data(1, 8)]
    c = [TrainConfig(task="classification", seed=s, epochs=1) for s in (0, 1)]
    with pytest.raises(ValueError, match=r"models\[1\]: dropout"):
        train_ensemble(m, d, c)
    m = [_model(0, torch.float64), _model(1, torch.float64)]
    with pytest.raises(ValueError, match=r"configs\[1\]: lr"):
        train_ensemble(m, d, [c[0], TrainConfig(task="classification", seed=1, epochs=1, lr=0.5)])
    with pytest.raises(ValueError, match="one shape"):
        train_ensemble(m, [d[0], _data(1, 9)], c)
    with pytest.raises(ValueError, match="equal length"):
        train_ensemble(m, d[:1], c)
    bad = _data(1, 8)
    bad[1][0] = 7
    with pytest.raises(ValueError, match=r"data\[1\] y: class labels"):
        train_ensemble(m, [d[0], bad], c)


def test_step_budget_and_no_validation():
    """Recipe v2's step budget (TrainConfig.steps, epoch_budget) without a validation set: last iterate kept."""
    models = [_model(s, torch.float64) for s in SEEDS]
    data = [_data(s, 22) for s in SEEDS]
    cfgs = [TrainConfig(task="classification", seed=s, steps=7, min_epochs=1, **{k: v for k, v in CFG.items()
                                                                                  if k != "epochs"}) for s in SEEDS]
    singles = [train(copy.deepcopy(m), *d[:2], c, mask=d[2]) for m, d, c in zip(models, data, cfgs, strict=True)]
    ens_models = [copy.deepcopy(m) for m in models]
    ens = train_ensemble(ens_models, data, cfgs)
    for a, b in zip(singles, ens, strict=True):
        assert a.steps == b.steps == 9 and b.val_loss == [] and b.best_epoch == -1  # ceil(7 / 3) = 3 epochs of 3
        torch.testing.assert_close(torch.tensor(b.train_loss), torch.tensor(a.train_loss), rtol=1e-9, atol=1e-12)
