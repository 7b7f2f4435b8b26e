"""verify.c4 with label noise (issue 12): the C4 theory with the same noise as the simulation passes the
check, and the theory told there is no noise fails it (so the noisy check can fail)."""

from __future__ import annotations

import math

import pytest
import torch

from verify.c4 import check_c4
from verify.ssms import default_ssm, random_ssm


@pytest.fixture(scope="module")
def fast():
    """SSMs whose kernels decay within ~3 steps (as in test_verify): L = 32 is already asymptotic."""
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(5)
    return [random_ssm(g, decay=(1.0, 2.0), dt_range=(0.2, 0.5)), default_ssm(g, dt_range=(0.5, 1.0))]


@pytest.mark.parametrize("idx", [0, 1])
def test_c4_with_label_noise_passes_and_fails_without_it_in_the_theory(fast, idx):
    # SNR 1 and P = 2L: the noise term sigma^2 gamma / (1 - gamma) ~ sigma^2 dominates the error
    kw = dict(L=32, Ps=(4, 64), trials=50, seed=1, snr=1.0)
    row = check_c4(fast[idx], **kw)
    assert row.passed and row.details["snr"] == 1.0 and "snr=1" in row.check
    assert not check_c4(fast[idx], theory_noise_scale=0.0, **kw).passed


def test_c4_noise_free_default_is_unchanged(fast):
    """snr = inf draws no noise: the same numbers as a call without the argument."""
    kw = dict(L=16, Ps=(4, 32), trials=10, seed=2)
    a, b = check_c4(fast[0], **kw), check_c4(fast[0], snr=math.inf, **kw)
    assert [c["sim_mean"] for c in a.details["cases"]] == [c["sim_mean"] for c in b.details["cases"]]
