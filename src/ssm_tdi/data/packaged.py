"""Classification sets that a Python package generates or ships, so nothing is downloaded.

* :func:`load_mnist1d` - MNIST-1D (Greydanus 2020): ten 1-D digit templates padded, sheared,
  scaled, shifted and noised into length-40 sequences by ``mnist1d.data.make_dataset``.
* :func:`load_digits_sequences` - scikit-learn's 1797 8x8 handwritten digits read row by row
  as 64-step sequences (a "sequential digits" task in the spirit of sequential MNIST).
"""

from __future__ import annotations

import numbers
import random
from importlib import metadata

import numpy as np

from .base import SequenceDataset
from .prep import _check_seed, train_val_split, znormalize

__all__ = ["load_mnist1d", "load_digits_sequences"]

_EXTRA = 'install the data extra: pip install -e ".[data]"'
_NORMALIZATION = "per-sequence z-normalization (prep.znormalize)"


def load_mnist1d(n_samples: int = 5000, seed: int = 42, normalize: bool = False) -> SequenceDataset:
    """Generate MNIST-1D: ``n_samples`` sequences of length 40, 1 channel, 10 classes.

    Calls ``make_dataset`` with the package's default arguments except ``num_samples`` and
    ``seed`` (5000 and 42 are the reference set), and keeps its split: the first 80% of the
    shuffled samples train, the rest test. ``n_samples`` must be a multiple of 10 (the
    generator makes ``n_samples // 10`` per class). The generator seeds numpy's and Python's
    global random state; both are restored afterwards, so calling this does not change other
    code's random streams.

    The generator itself centers and scales the whole set, train and test together, by one
    scalar mean and standard deviation (two numbers, shared by all sequences). ``normalize=True``
    adds per-sequence z-normalization on top.
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 10 \
            or n_samples % 10:
        raise ValueError(f"n_samples: expected a positive multiple of 10, got {n_samples!r}")
    seed = _check_seed(seed)
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize: expected a bool, got {type(normalize).__name__}")
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:
        raise ImportError(f'load_mnist1d needs the package "mnist1d"; {_EXTRA}') from exc
    args = get_dataset_args()
    args.num_samples, args.seed = int(n_samples), seed
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(args)  # pure generation from templates; only get_dataset() downloads
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    X_train, X_test = (np.asarray(d[k], dtype=np.float32)[:, :, None] for k in ("x", "x_test"))
    if normalize:
        X_train, X_test = znormalize(X_train), znormalize(X_test)
    params = {k: v for k, v in vars(args).items() if k != "url"}
    return SequenceDataset(
        name="mnist1d",
        X_train=X_train,
        y_train=np.asarray(d["y"], dtype=np.int64),
        X_test=X_test,
        y_test=np.asarray(d["y_test"], dtype=np.int64),
        n_classes=10,
        meta={
            "source": f"mnist1d {metadata.version('mnist1d')} make_dataset (generated, no download)",
            "generator_args": params,
            "split": "the generator's own: first 80% of the shuffled samples train, last 20% test",
            "normalization": ("generator: one global mean/std over train+test; "
                              + (_NORMALIZATION if normalize else "no per-sequence normalization")),
        },
    )


def load_digits_sequences(test_fraction: float = 0.25, seed: int = 0, normalize: bool = True) -> SequenceDataset:
    """scikit-learn's 8x8 digits as 64-step univariate sequences (row-major pixel order), 10 classes.

    Pixel values (0..16) are divided by 16; ``normalize=True`` then z-normalizes each sequence
    on its own. The split is stratified and seeded: from each class ``floor(test_fraction *
    n_c)`` images go to test (:func:`prep.train_val_split`). Reading an image row by row puts
    vertically adjacent pixels 8 steps apart, so the sequences carry a strong period-8
    component (a line at frequency 1/8 and its harmonics in their spectrum).
    """
    if (isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real)
            or not 0 < test_fraction < 1):
        raise ValueError(f"test_fraction: expected a number in (0, 1), got {test_fraction!r}")
    seed = _check_seed(seed)
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize: expected a bool, got {type(normalize).__name__}")
    try:
        import sklearn
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError(f'load_digits_sequences needs the package "scikit-learn"; {_EXTRA}') from exc
    digits = load_digits()
    X = (np.asarray(digits.data, dtype=np.float64) / 16.0)[:, :, None].astype(np.float32)
    y = np.asarray(digits.target, dtype=np.int64)
    train_idx, test_idx = train_val_split(y, float(test_fraction), seed)
    if normalize:
        X = znormalize(X)
    return SequenceDataset(
        name="digits",
        X_train=X[train_idx],
        y_train=y[train_idx],
        X_test=X[test_idx],
        y_test=y[test_idx],
        n_classes=10,
        meta={
            "source": f"scikit-learn {sklearn.__version__} load_digits (bundled, no download)",
            "reading": "row-major: 8 rows of 8 pixels -> 64 steps; period-8 structure (vertical neighbours are "
                       "8 steps apart)",
            "split": f"stratified, seeded (seed={seed}): floor({test_fraction} * n_c) per class to test",
            "train_indices": train_idx,
            "test_indices": test_idx,
            "normalization": "pixels / 16, then " + (_NORMALIZATION if normalize else "nothing else"),
        },
    )
