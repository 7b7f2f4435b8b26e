"""ssm_tdi.bands: the band holding a spectrum's central power and the S4D-Lin step range that covers it."""

import math

import pytest
import torch

from ssm_tdi.bands import power_band, s4d_lin_dt_range
from ssm_tdi.inits import s4d_lin


def test_power_band_of_a_line_and_of_a_flat_spectrum():
    F = 101  # grid w_j = pi j / 100
    line = torch.zeros(F)
    line[30] = 5.0
    assert power_band(line) == (pytest.approx(0.3 * math.pi), pytest.approx(0.3 * math.pi))
    flat = torch.ones(F)
    lo, hi = power_band(flat, (0.1, 0.9))
    # cumulative share (j+1)/101 first reaches 0.1 at j = 10 and 0.9 at j = 90
    assert (lo, hi) == (pytest.approx(0.10 * math.pi), pytest.approx(0.90 * math.pi))
    rows = torch.stack([line, line])  # (H, F): rows averaged
    assert power_band(rows) == power_band(line)


def test_power_band_refuses_bad_spectra_and_quantiles():
    with pytest.raises(ValueError, match="S"):
        power_band(torch.zeros(8))
    with pytest.raises(ValueError, match="S"):
        power_band(torch.tensor([1.0, -1.0, 2.0]))
    with pytest.raises(ValueError, match="quantiles"):
        power_band(torch.ones(8), (0.9, 0.1))


def test_dt_range_puts_the_top_s4d_lin_mode_in_the_band():
    N2 = 32
    band = (0.2 * math.pi, 0.6 * math.pi)
    dt_min, dt_max = s4d_lin_dt_range(band, N2)
    A = s4d_lin(1, N2)[0]
    top = float(A.imag.abs().max())  # pi (N2 - 1): S4D-Lin's fastest mode, the one the range places
    assert top == pytest.approx(math.pi * (N2 - 1), rel=1e-6)
    assert dt_min * top == pytest.approx(band[0]) and dt_max * top == pytest.approx(band[1])
    lo, hi = s4d_lin_dt_range((0.0, 0.5 * math.pi), N2)  # a band from w = 0: the range is capped at 100x
    assert hi / lo == pytest.approx(100.0)
    with pytest.raises(ValueError, match="band"):
        s4d_lin_dt_range((0.5, 0.1), N2)
