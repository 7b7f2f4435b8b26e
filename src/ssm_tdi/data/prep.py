"""Preprocessing shared by the classification loaders (pure numpy).

* :func:`znormalize` - per-sequence, per-channel z-normalization (the UCR convention);
* :func:`pad_sequences` - right zero-padding of variable-length sequences plus a validity mask;
* :func:`training_subset` - stratified, nested training subsets for learning curves;
* :func:`distinct_fractions` - which fractions of a grid give different subsets (the rest are duplicates);
* :func:`train_val_split` - stratified validation carve-out of a training set.

Everything random takes a ``seed`` and draws from ``numpy.random.Generator(seed)``, so the
same call returns the same indices on every machine and numpy version that keeps the
``PCG64`` stream (numpy >= 1.17).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["znormalize", "pad_sequences", "training_subset", "distinct_fractions", "train_val_split"]

# floor(x + _FLOOR_TOL) instead of floor(x): 0.29 * 100 is 28.999999999999996 in binary
# floating point, and a split asked for 29% of 100 should give 29, not 28.
_FLOOR_TOL = 1e-9


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    return int(seed)


def _check_labels(labels) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"labels: expected a non-empty 1-D array, got shape {y.shape}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"labels: expected integer class labels, got dtype {y.dtype}")
    return y


def _check_fraction(x, name: str, low_open: bool) -> float:
    """A real number in (0, 1] (``low_open``) or in [0, 1)."""
    interval = "(0, 1]" if low_open else "[0, 1)"
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x):
        raise ValueError(f"{name}: expected a number in {interval}, got {x!r}")
    if (low_open and not 0 < x <= 1) or (not low_open and not 0 <= x < 1):
        raise ValueError(f"{name}: expected a number in {interval}, got {x!r}")
    return float(x)


def _class_permutations(y: np.ndarray, seed: int) -> list[np.ndarray]:
    """For each class (in sorted label order) its indices in a seeded random order.

    The permutation of a class depends only on ``y`` and ``seed``, never on how many of
    its members a caller will take, which is what makes prefixes nested.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    return [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]


def znormalize(X, mask=None, eps: float = 1e-8) -> np.ndarray:
    """Z-normalize every channel of every sequence over its valid positions.

    ``X`` is ``(n, L, C)``; ``mask`` is ``None`` (all valid) or bool ``(n, L)`` with True at
    valid positions. Each (sequence, channel) gets mean 0 and population standard deviation 1
    over its valid positions; padded positions are set to 0, and may hold anything (NaN
    padding is accepted). A channel whose standard deviation is at most ``eps`` times its
    largest absolute value (constant up to rounding) becomes all zeros, not NaN.

    The statistics of a sequence come from that sequence alone, so normalizing the whole
    archive once is the same as normalizing each split or training subset separately: no
    information passes between train and test, or from outside a training subset.

    Returns float32 ``(n, L, C)``; the arithmetic is done in float64.
    """
    X = np.asarray(X)
    if X.ndim != 3 or X.dtype.kind not in "iuf":
        raise ValueError(f"X: expected a real array of shape (n, L, C), got {X.dtype} {X.shape}")
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps >= 0:
        raise ValueError(f"eps: expected a number >= 0, got {eps!r}")
    n, L, _ = X.shape
    if mask is None:
        m = np.ones((n, L), dtype=bool)
    else:
        m = np.asarray(mask)
        if m.dtype != np.bool_ or m.shape != (n, L):
            raise ValueError(f"mask: expected None or bool of shape {(n, L)}, got {m.dtype} {m.shape}")
        if n and not m.any(axis=1).all():
            raise ValueError("mask: every sequence needs at least one valid position")
    m3 = m[:, :, None]
    x = np.where(m3, X.astype(np.float64), 0.0)
    if not np.isfinite(x).all():
        raise ValueError("X: expected finite values at the valid positions, found NaN or inf")
    count = m.sum(axis=1)[:, None, None].astype(np.float64)
    mean = x.sum(axis=1, keepdims=True) / count
    centered = np.where(m3, x - mean, 0.0)
    std = np.sqrt((centered**2).sum(axis=1, keepdims=True) / count)
    scale = np.abs(x).max(axis=1, keepdims=True)
    constant = std <= eps * scale  # also catches std == 0 for an all-zero channel
    out = np.where(constant, 0.0, centered / np.where(constant, 1.0, std))
    return out.astype(np.float32)


def pad_sequences(seqs, length=None) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad sequences of different lengths with zeros.

    ``seqs`` is a non-empty list of ``(L_i, C)`` arrays with the same C (a 1-D array is read
    as ``(L_i, 1)``). ``length`` is the padded length, by default the longest ``L_i``; a
    sequence longer than ``length`` raises ValueError (nothing is truncated silently).

    Returns ``X`` float32 ``(n, length, C)`` and ``mask`` bool ``(n, length)``, True at the
    first ``L_i`` positions of row i.
    """
    if isinstance(seqs, np.ndarray) or not isinstance(seqs, (list, tuple)) or len(seqs) == 0:
        raise ValueError(f"seqs: expected a non-empty list of (L_i, C) arrays, got {type(seqs).__name__}")
    arrs = []
    for i, s in enumerate(seqs):
        a = np.asarray(s)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2 or a.shape[0] < 1 or a.dtype.kind not in "iuf":
            raise ValueError(f"seqs: expected real arrays of shape (L_i >= 1, C), item {i} is {a.dtype} {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"seqs: expected finite values, item {i} holds NaN or inf")
        if arrs and a.shape[1] != arrs[0].shape[1]:
            raise ValueError(f"seqs: expected the same number of channels, item 0 has {arrs[0].shape[1]}, "
                             f"item {i} has {a.shape[1]}")
        arrs.append(a)
    longest = max(a.shape[0] for a in arrs)
    if length is None:
        length = longest
    elif isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 1:
        raise ValueError(f"length: expected None or an integer >= 1, got {length!r}")
    elif length < longest:
        raise ValueError(f"length: expected at least the longest sequence ({longest}), got {length}")
    X = np.zeros((len(arrs), int(length), arrs[0].shape[1]), dtype=np.float32)
    mask = np.zeros((len(arrs), int(length)), dtype=bool)
    for i, a in enumerate(arrs):
        X[i, : a.shape[0]] = a
        mask[i, : a.shape[0]] = True
    return X, mask


def _per_class_counts(class_sizes: np.ndarray, fraction: float) -> np.ndarray:
    """Members taken from each class by :func:`training_subset`: max(1, round(fraction * n_c)), halves up."""
    k = np.floor(fraction * class_sizes + 0.5 + _FLOOR_TOL).astype(np.int64)
    return np.minimum(np.maximum(k, 1), class_sizes)


def training_subset(labels, fraction, seed) -> np.ndarray:
    """Stratified training subset: sorted int64 indices into ``labels``.

    From each class with ``n_c`` members it takes ``max(1, round(fraction * n_c))`` (halves
    round up), so every class keeps at least one example; ``fraction = 1`` takes everything.
    Each class is put in one seeded random order and the subset is a prefix of it, so for a
    fixed seed the subsets are nested: the 5% subset lies inside the 10% one.
    """
    y = _check_labels(labels)
    f = _check_fraction(fraction, "fraction", low_open=True)
    rng_seed = _check_seed(seed)
    perms = _class_permutations(y, rng_seed)
    counts = _per_class_counts(np.array([p.size for p in perms]), f)
    return np.sort(np.concatenate([p[:k] for p, k in zip(perms, counts, strict=True)])).astype(np.int64)


def distinct_fractions(labels, fractions) -> tuple[list[float], dict[float, float]]:
    """The fractions of a grid whose :func:`training_subset` differ, and the duplicates dropped.

    Per-class counts depend only on the class sizes and the fraction (not on the seed), and subsets
    of one seed are prefixes of the same per-class orders, so two fractions with equal per-class
    counts give the SAME subset for every seed (BasicMotions, 10 per class: 5% and 10% both take 1
    per class). Such a group is one cell of a learning curve, not two: it is kept once, under the
    fraction nearest the share of the data it really holds (n_subset / n), ties to the larger.

    Returns ``(kept, dropped)``: the kept fractions in increasing order and ``{dropped: kept}``.
    """
    y = _check_labels(labels)
    if isinstance(fractions, (str, bytes)) or not hasattr(fractions, "__iter__"):
        raise ValueError(f"fractions: expected a sequence of numbers in (0, 1], got {fractions!r}")
    fs = sorted({_check_fraction(f, "fractions", low_open=True) for f in fractions})
    if not fs:
        raise ValueError("fractions: expected at least one fraction")
    sizes = np.unique(y, return_counts=True)[1]
    groups: dict[tuple, list[float]] = {}
    for f in fs:
        groups.setdefault(tuple(_per_class_counts(sizes, f)), []).append(f)
    kept, dropped = [], {}
    for counts, members in groups.items():
        share = sum(counts) / y.size
        keep = min(members, key=lambda f: (abs(f - share), -f))
        kept.append(keep)
        dropped.update({f: keep for f in members if f != keep})
    return sorted(kept), dropped


def train_val_split(labels, val_fraction, seed, min_train_per_class=1) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of ``labels`` (e.g. a training subset's) into training and validation.

    From each class with ``n_c`` members, ``floor(val_fraction * n_c)`` go to validation, but
    never so many that fewer than ``min_train_per_class`` stay in training. Small subsets thus
    can give an empty validation set (``val_fraction = 0`` always does); the study then trains
    for a fixed epoch budget without early stopping.

    Returns sorted int64 ``(train_idx, val_idx)``, positions in ``labels``: for a subset
    ``sub`` the training rows of the full set are ``sub[train_idx]``. Validation sets for a
    fixed seed are nested in ``val_fraction``.
    """
    y = _check_labels(labels)
    v = _check_fraction(val_fraction, "val_fraction", low_open=False)
    rng_seed = _check_seed(seed)
    if (isinstance(min_train_per_class, bool) or not isinstance(min_train_per_class, numbers.Integral)
            or min_train_per_class < 1):
        raise ValueError(f"min_train_per_class: expected an integer >= 1, got {min_train_per_class!r}")
    train, val = [], []
    for perm in _class_permutations(y, rng_seed):
        k = min(math.floor(v * perm.size + _FLOOR_TOL), max(0, perm.size - int(min_train_per_class)))
        val.append(perm[:k])
        train.append(perm[k:])
    return (np.sort(np.concatenate(train)).astype(np.int64), np.sort(np.concatenate(val)).astype(np.int64))
