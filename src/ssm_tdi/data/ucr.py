"""UCR/UEA time-series classification sets, read with aeon's ``.ts`` reader, never downloaded.

Two sources:

* ``root=None``: the sets that ship inside the installed aeon wheel (``aeon/datasets/data``),
  listed in :data:`BUNDLED_UCR`; any other name is refused with that list (aeon itself
  would try to download it).
* ``root=<dir>``: a local copy of the archive in its standard layout
  ``<root>/<Name>/<Name>_TRAIN.ts`` and ``<root>/<Name>/<Name>_TEST.ts``.

In both cases the files are opened by path with ``aeon.datasets.load_from_ts_file``, which has
no network code. The published train/test split is kept as it is. Labels are mapped to
``0..K-1`` in sorted order of the union of train and test labels (numeric order when every
label is a number, else string order; aeon lower-cases labels). Sequences of different
lengths, and trailing missing values (the archive's way of padding), become right zero
padding with a mask; missing values inside a series are refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import SequenceDataset
from .prep import pad_sequences, znormalize

__all__ = ["BUNDLED_UCR", "BUNDLED_UCR_INFO", "load_ucr"]

# The classification problems of the UCR/UEA archive bundled in aeon 1.6.0, checked by loading
# each (train/test sizes, classes, length range, channels). aeon also bundles "UnitTest" (a
# 20/22 subset of Chinatown for its own tests) and "Covid3Month_disc" (a discretized regression
# set); they are not archive problems and are left out.
BUNDLED_UCR_INFO = {
    "ACSF1": "100/100, 10 classes, L=1460, 1 channel (power consumption of appliances)",
    "ArrowHead": "36/175, 3 classes, L=251, 1 channel (arrowhead outlines)",
    "BasicMotions": "40/40, 4 classes, L=100, 6 channels (accelerometer + gyroscope)",
    "GunPoint": "50/150, 2 classes, L=150, 1 channel (hand motion)",
    "ItalyPowerDemand": "67/1029, 2 classes, L=24, 1 channel (daily electricity demand)",
    "JapaneseVowels": "270/370, 9 classes, L=7..29 (masked), 12 channels (LPC cepstra)",
    "OSULeaf": "200/242, 6 classes, L=427, 1 channel (leaf outlines)",
    "PickupGestureWiimoteZ": "50/50, 10 classes, L=29..361 (masked), 1 channel (Wii remote z-axis)",
}
BUNDLED_UCR = tuple(BUNDLED_UCR_INFO)

_NORMALIZATION = "per-sequence, per-channel z-normalization over valid positions (prep.znormalize)"


def _aeon():
    try:
        import aeon
        from aeon.datasets import load_from_ts_file
    except ImportError as exc:
        raise ImportError('load_ucr needs the package "aeon"; install the data extra: pip install -e ".[data]"') \
            from exc
    return aeon, load_from_ts_file


def _read_ts(path: Path, reader) -> tuple[list[np.ndarray], np.ndarray]:
    """Sequences as (L_i, C) float64 arrays with trailing missing values cut, and string labels."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (expected <root>/<Name>/<Name>_TRAIN.ts and _TEST.ts)")
    try:
        X, y, info = reader(str(path), return_meta_data=True)
    except (OSError, ValueError, IndexError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable .ts file ({type(exc).__name__}: {exc})") from exc
    if not info.get("classlabel", False):
        raise ValueError(f"{path}: not a classification problem (no @classLabel true ... in the header)")
    if info.get("timestamps", False):
        raise ValueError(f"{path}: time-stamped .ts files are not supported")
    if len(X) == 0 or len(X) != len(y):
        raise ValueError(f"{path}: expected at least one series and one label per series, got {len(X)} series "
                         f"and {len(y)} labels")
    seqs = []
    for i, x in enumerate(X):
        s = np.asarray(x, dtype=np.float64).T  # aeon gives (C, L_i)
        if s.ndim != 2 or s.shape[1] == 0:
            raise ValueError(f"{path}: series {i} has no values (expected channels separated by ':', label last)")
        ok = np.isfinite(s).all(axis=1)
        n_valid = int(np.flatnonzero(ok)[-1]) + 1 if ok.any() else 0
        if n_valid == 0 or not ok[:n_valid].all():
            raise ValueError(f"{path}: series {i} has missing values inside it (only trailing ones are read as "
                             f"padding); use the archive's imputed '_nmv' version")
        seqs.append(s[:n_valid])
    return seqs, np.asarray(y).astype(str)


def _class_order(labels: np.ndarray) -> list[str]:
    uniq = sorted(set(labels.tolist()))
    try:
        return sorted(uniq, key=float)
    except ValueError:
        return uniq


def load_ucr(name: str, root=None, normalize: bool = True) -> SequenceDataset:
    """Load one UCR/UEA classification problem (see the module docstring for sources and rules).

    ``normalize=True`` z-normalizes each sequence and channel on its own (the archive's
    convention; no statistics cross sequences). ``meta`` holds the source, the label mapping
    ``classes`` (label string of class k at position k), the original length range of each
    split and the normalization applied.
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a string, got {type(name).__name__}")
    if not name or name in (".", "..") or "/" in name or os.sep in name:
        raise ValueError(f"name: expected a problem name such as 'GunPoint', got {name!r}")
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize: expected a bool, got {type(normalize).__name__}")
    aeon, reader = _aeon()
    if root is None:
        if name not in BUNDLED_UCR:
            raise ValueError(f"name: {name!r} is not bundled with aeon (nothing is downloaded); bundled sets: "
                             f"{', '.join(BUNDLED_UCR)}; for other problems pass root=<local archive directory>")
        folder = Path(aeon.__file__).parent / "datasets" / "data" / name
        source = f"aeon {aeon.__version__} bundled"
    else:
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root: expected None or a directory path, got {type(root).__name__}")
        folder = Path(root).expanduser() / name
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such directory (expected <root>/{name}/{name}_TRAIN.ts)")
        source = f"local archive {folder.resolve()}"
    train, ytr = _read_ts(folder / f"{name}_TRAIN.ts", reader)
    test, yte = _read_ts(folder / f"{name}_TEST.ts", reader)
    if train[0].shape[1] != test[0].shape[1] or any(s.shape[1] != train[0].shape[1] for s in train + test):
        raise ValueError(f"{folder}: expected the same number of channels in every series of {name}_TRAIN.ts and "
                         f"{name}_TEST.ts")
    classes = _class_order(np.concatenate([ytr, yte]))
    if len(classes) < 2:
        raise ValueError(f"{folder}: expected at least 2 classes, found {classes}")
    code = {c: k for k, c in enumerate(classes)}
    lengths = {split: (min(len(s) for s in seqs), max(len(s) for s in seqs))
               for split, seqs in (("train", train), ("test", test))}
    all_lengths = {len(s) for s in train + test}
    if len(all_lengths) == 1:
        X_train, X_test = np.stack(train), np.stack(test)
        m_train = m_test = None
    else:
        L = max(all_lengths)
        X_train, m_train = pad_sequences(train, L)
        X_test, m_test = pad_sequences(test, L)
    if normalize:
        X_train, X_test = znormalize(X_train, m_train), znormalize(X_test, m_test)
    meta = {
        "source": source,
        "path": str(folder),
        "classes": classes,
        "lengths": lengths,
        "variable_length": m_train is not None,
        "n_channels": int(train[0].shape[1]),
        "normalization": _NORMALIZATION if normalize else "none",
        "split": "the archive's published train/test split",
    }
    return SequenceDataset(
        name=name,
        X_train=np.asarray(X_train, dtype=np.float32),
        y_train=np.array([code[c] for c in ytr], dtype=np.int64),
        X_test=np.asarray(X_test, dtype=np.float32),
        y_test=np.array([code[c] for c in yte], dtype=np.int64),
        n_classes=len(classes),
        mask_train=m_train,
        mask_test=m_test,
        meta=meta,
    )
