"""The full verification run: which SSMs, lengths and seeds each claim's checks use.

Sizes are chosen for a < 60 s run on 2 CPU cores (about 25 s single-threaded). Dense SVDs go
up to L = 2048 for C1 and L = 1024 for C2/C3; L = 4096 is left out (about a minute per
dense SVD on 2 cores). Every family mixes S4D-Lin defaults and random stable SSMs, ZOH and
bilinear. The checks themselves live in c1.py .. c4.py, one module per claim.
"""

from __future__ import annotations

import time

from .c1 import check_c1
from .c2 import check_c2_mirsky, check_c2_rate, check_c2_traces
from .c3 import check_c3_circulant, check_c3_nonstationary, check_c3_toeplitz
from .c4 import check_c4
from .common import Row
from .ssms import decayed_family, delay_ssm, ssm_family

# Seeds: one per family, fixed so that the same command prints the same numbers.
SEED_WIDE, SEED_DECAYED, SEED_C3, SEED_C4 = 20250901, 20250902, 20250903, 20250904

# half-octave steps: 9 points, so the t-interval of a fitted slope (df = 7) is tight
RATE_LENGTHS = (64, 96, 128, 192, 256, 384, 512, 768, 1024)


def run_all() -> list[Row]:
    """Run every check; each row gets its wall time in ``details['seconds']``."""
    # dt over the whole default range [1e-3, 1e-1] and -Re a in [0.01, 2]: many kernels are far
    # from decayed within L (pre-asymptotic); the exact and bound checks must hold regardless.
    wide = ssm_family(SEED_WIDE, n_default=3, n_random=3)
    # kernels decayed within about 64 steps: the asymptotic regime of the rate checks
    decayed = decayed_family(SEED_DECAYED, n_default=2, n_random=2)
    c4_ssms = decayed_family(SEED_C4, n_default=1, n_random=1)

    # C1: every wide-family SSM up to L = 1024, one default and one random SSM at L = 2048
    c1_cases = [(s, L) for s in wide for L in (64, 256, 1024)] + [(wide[0], 2048), (wide[-1], 2048)]
    # C2 Mirsky: the decayed family meets L up to 1024 in the rate check as well
    mirsky_cases = [(s, L) for s in wide for L in (64, 256, 1024)]
    mirsky_cases += [(s, L) for s in decayed for L in (64, 256)]
    mirsky_cases += [(delay_ssm(64, 10), 64), (delay_ssm(256, 100), 256)]  # equality cases

    jobs = [
        lambda: [check_c1(c1_cases)],
        lambda: [check_c2_mirsky(mirsky_cases)],
        lambda: [check_c2_rate(decayed, RATE_LENGTHS)],
        lambda: [check_c2_traces(wide, (64, 1024))],
        lambda: [check_c3_circulant(wide, (64, 256, 1024))],
        lambda: list(check_c3_toeplitz(decayed, RATE_LENGTHS)),
        lambda: list(check_c3_nonstationary(decayed[::2], 1024, seed=SEED_C3)),
        lambda: [check_c4(s, seed=SEED_C4 + i) for i, s in enumerate(c4_ssms)],
        # E1's headline set-up has label noise (SNR 10, issue 12): the theory must hold there too
        lambda: [check_c4(c4_ssms[0], seed=SEED_C4 + 100, snr=10.0)],
    ]
    rows = []
    for job in jobs:
        t0 = time.perf_counter()
        new = job()
        seconds = (time.perf_counter() - t0) / len(new)
        for r in new:
            r.details["seconds"] = round(seconds, 3)
        rows += new
    return rows
