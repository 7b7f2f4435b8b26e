"""Shared pytest configuration.

Hypothesis profiles: ``ci`` (default; derandomized, fixed example budget so every run
tries the same cases) and ``long`` (many more examples, random). Select with
``pytest --hypothesis-profile=long`` or ``SSM_TDI_HYPOTHESIS=long``.
"""

import os

import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=40,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=1000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("SSM_TDI_HYPOTHESIS", "ci"))

# Two cores: keep torch from oversubscribing when pytest runs alongside other work.
torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
