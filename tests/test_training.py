"""ssm_tdi.training recipe v2: an optimizer-step budget independent of the training-set size, with an epoch floor."""

import math

import pytest
import torch

from ssm_tdi.models import DeepSSM
from ssm_tdi.training import TrainConfig, batches_per_epoch, epoch_budget, train


def _data(n, L=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, L, 1, generator=g)
    return X, (X.mean((1, 2)) > 0).long()


def _model():
    return DeepSSM(1, 2, d_model=4, d_state=4, n_layers=1, task="classification", seed=0)


def test_batches_per_epoch():
    assert batches_per_epoch(10, None) == 1 and batches_per_epoch(10, 32) == 1
    assert batches_per_epoch(100, 32) == 4 and batches_per_epoch(96, 32) == 3
    with pytest.raises(ValueError, match="n"):
        batches_per_epoch(0, 32)


@pytest.mark.parametrize("n", [3, 40, 130])
def test_step_budget_gives_at_least_steps_whatever_the_training_set_size(n):
    cfg = TrainConfig(task="classification", steps=12, min_epochs=2, batch_size=32)
    nb = batches_per_epoch(n, 32)
    assert epoch_budget(cfg, n) == max(2, math.ceil(12 / nb))
    X, y = _data(n)
    res = train(_model(), X, y, cfg)
    assert res.steps == epoch_budget(cfg, n) * nb
    assert 12 <= res.steps < 12 + nb or res.steps == 2 * nb  # whole epochs: overshoot < one epoch, or the floor


def test_epoch_floor_binds_for_large_sets_and_epochs_is_ignored_with_steps():
    cfg = TrainConfig(task="classification", steps=4, min_epochs=3, batch_size=10, epochs=100)
    assert epoch_budget(cfg, 100) == 3  # 10 batches per epoch: 4 steps would be < 1 epoch
    assert epoch_budget(TrainConfig(epochs=7), 5) == 7  # no steps: the epoch budget of v1


def test_step_config_is_validated():
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="steps"):
            TrainConfig(steps=bad)
    with pytest.raises(ValueError, match="min_epochs"):
        TrainConfig(steps=5, min_epochs=-1)


def test_validation_selects_the_best_state_without_early_stopping():
    X, y = _data(40)
    Xv, yv = _data(12, seed=1)
    cfg = TrainConfig(task="classification", steps=30, min_epochs=1, batch_size=None, lr=0.05, seed=0)
    res = train(_model(), X, y, cfg, X_val=Xv, y_val=yv)
    assert len(res.train_loss) == 30 == len(res.val_loss)  # the full budget ran (patience None)
    assert res.best_epoch == min(range(30), key=lambda i: res.val_loss[i])
