"""Exact (sympy) proofs of the identities the ssm-tdi library relies on.

Run ``python -m theory`` (optionally ``--json PATH``); see :mod:`theory.identities` for
the list of identities and :mod:`theory.exact` for the comparison helpers.
"""
