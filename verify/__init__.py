"""Numerical (float64) verification of the paper's claims C1-C4; run ``python -m verify``.

One module per claim (c1.py .. c4.py), each check returning a :class:`verify.common.Row`;
``claims.run_all`` fixes sizes and seeds; ``ssms`` samples default and random SSMs. All
math comes from ``ssm_tdi`` (kernels, operators, learning_curves, synthetic,
kernel_regression); this package only composes and compares.
"""
