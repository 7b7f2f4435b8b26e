"""The container every classification loader returns: :class:`SequenceDataset`.

A data set is a train and a test split of sequences with integer class labels. Real-valued
sequences are ``float32 (n, L, C)`` (C channels); token sequences (ListOps) are ``int64
(n, L)`` with ``vocab_size`` set. Variable-length data are right-padded to a common L with a
boolean mask ``(n, L)`` (True = valid). Loaders validate what they return, so a study can
trust shapes, dtypes, label ranges and finiteness without checking again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SequenceDataset"]


def _check_split(name: str, X, y, mask, n_classes: int, tokens: bool, vocab_size) -> None:
    if not isinstance(X, np.ndarray) or not isinstance(y, np.ndarray):
        raise TypeError(f"X_{name}, y_{name}: expected numpy arrays, got {type(X).__name__}, {type(y).__name__}")
    if tokens:
        if X.ndim != 2 or X.dtype != np.int64:
            raise ValueError(f"X_{name}: expected int64 tokens of shape (n, L), got {X.dtype} {X.shape}")
        if X.size and (X.min() < 0 or X.max() >= vocab_size):
            raise ValueError(f"X_{name}: token ids must lie in [0, {vocab_size}), got [{X.min()}, {X.max()}]")
    else:
        if X.ndim != 3 or X.dtype != np.float32:
            raise ValueError(f"X_{name}: expected float32 of shape (n, L, C), got {X.dtype} {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError(f"X_{name}: expected finite values, found NaN or inf")
    if X.shape[0] < 1 or X.shape[1] < 2:
        raise ValueError(f"X_{name}: expected at least one sequence of length >= 2, got shape {X.shape}")
    if y.shape != (X.shape[0],) or y.dtype != np.int64:
        raise ValueError(f"y_{name}: expected int64 labels of shape ({X.shape[0]},), got {y.dtype} {y.shape}")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"y_{name}: labels must lie in [0, {n_classes}), got [{y.min()}, {y.max()}]")
    if mask is not None:
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != X.shape[:2]:
            raise ValueError(f"mask_{name}: expected bool of shape {X.shape[:2]}, got "
                             f"{getattr(mask, 'dtype', type(mask))} {getattr(mask, 'shape', '')}")
        if not mask.any(axis=1).all():
            raise ValueError(f"mask_{name}: every sequence needs at least one valid position")


@dataclass
class SequenceDataset:
    """Train/test sequences with class labels (see the module docstring for the layout).

    ``meta`` records where the data came from and what preprocessing was applied (source
    package and version, normalization, original lengths, generator parameters).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    mask_train: np.ndarray | None = None
    mask_test: np.ndarray | None = None
    vocab_size: int | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.validate()

    @property
    def tokens(self) -> bool:
        return self.vocab_size is not None

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.X_test.shape[0])

    @property
    def L(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def d_input(self) -> int:
        return 1 if self.tokens else int(self.X_train.shape[2])

    def validate(self) -> None:
        """Raise ValueError naming the field if anything is malformed."""
        if not isinstance(self.n_classes, (int, np.integer)) or self.n_classes < 2:
            raise ValueError(f"n_classes: expected an integer >= 2, got {self.n_classes!r}")
        if self.vocab_size is not None and (not isinstance(self.vocab_size, (int, np.integer))
                                            or self.vocab_size < 1):
            raise ValueError(f"vocab_size: expected None or an integer >= 1, got {self.vocab_size!r}")
        for split in ("train", "test"):
            _check_split(split, getattr(self, f"X_{split}"), getattr(self, f"y_{split}"),
                         getattr(self, f"mask_{split}"), int(self.n_classes), self.tokens, self.vocab_size)
        if self.X_train.shape[1:] != self.X_test.shape[1:]:
            raise ValueError(f"X_train, X_test: expected the same (L, C), got {self.X_train.shape[1:]} "
                             f"and {self.X_test.shape[1:]}")

    def train_part(self, idx) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(X, y, mask) of the training sequences ``idx``."""
        idx = np.asarray(idx, dtype=np.int64)
        m = None if self.mask_train is None else self.mask_train[idx]
        return self.X_train[idx], self.y_train[idx], m

    def __repr__(self) -> str:
        kind = f"tokens(vocab={self.vocab_size})" if self.tokens else f"C={self.d_input}"
        return (f"SequenceDataset({self.name!r}: train {self.n_train}, test {self.n_test}, L={self.L}, {kind}, "
                f"{self.n_classes} classes{', masked' if self.mask_train is not None else ''})")
