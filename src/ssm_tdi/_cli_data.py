"""Reading the command line's DATA files: sequences, targets, class labels, and their true length L.

Formats: ``.npy`` (sequences ``(n, L)`` or ``(n, L, d)``), ``.npz`` (arrays under chosen keys) and
``.csv`` (one sequence per row; an optional header row; ``--label-column`` by index or header name).
Sizes are read from the file headers and checked against the memory budget
(:func:`ssm_tdi._memory.require`) before any array is loaded. Errors are :class:`DataError` with a
one-line message that names the argument (``DATA``, ``--label-column``, ...), the row and column of a
bad CSV cell, or the index of the first NaN.
"""

from __future__ import annotations

import csv
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._memory import require

__all__ = ["DataError", "LabelWarning", "Data", "load_data"]

# A CSV row becomes float64 values (8 bytes each) and a cell takes at least 2 bytes ("0,"): the parsed
# sequences need at most 4 bytes per file byte; a float64 copy for the estimators doubles it.
_CSV_BYTES_PER_FILE_BYTE = 8
_LABEL_MAX_CLASSES = 20  # a column with at most this many distinct integers looks like class labels


class DataError(ValueError):
    """A DATA file that cannot be used; the message starts with the argument to blame."""


class LabelWarning(UserWarning):
    """The data look as if they still contain a label column."""


@dataclass
class Data:
    X: np.ndarray  # float64 (n, L) or (n, L, d)
    y: np.ndarray | None = None
    labels: np.ndarray | None = None  # int64 class indices when label_names is set
    label_names: list | None = None  # label_names[k] is the original (string) label of class k

    @property
    def L(self) -> int:
        """The true sequence length (odd lengths included)."""
        return int(self.X.shape[1])


def load_data(path, x_key="X", y_key="y", labels_key="labels", label_column: str | None = None) -> Data:
    """Read and validate DATA (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"DATA: file not found: {path}")
    if not path.is_file():
        raise DataError(f"DATA: not a regular file: {path}")
    suffix = path.suffix.lower()
    if label_column is not None and suffix != ".csv":
        raise DataError(f"--label-column: only for .csv files; for {suffix or 'this file'} use --labels-key")
    try:
        if suffix == ".npy":
            data = Data(_load_npy(path, path.name))
        elif suffix == ".npz":
            data = _read_npz(path, x_key, y_key, labels_key)
        elif suffix == ".csv":
            data = _read_csv(path, label_column)
        else:
            raise DataError(f"DATA: expected a .npy, .npz or .csv file, got {path.name}")
    except (DataError, MemoryError):
        raise
    except Exception as exc:  # corrupt or unreadable file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"DATA: could not read {path}: {first}") from exc
    data.X = _check_sequences(data.X, f"DATA ({x_key})" if suffix == ".npz" else "DATA")
    if data.labels is not None and data.label_names is None:
        data.labels, data.label_names = _map_labels(np.asarray(data.labels), _labels_name(suffix, labels_key))
    return data


def _labels_name(suffix, labels_key):
    return f"labels ({labels_key!r} of DATA)" if suffix == ".npz" else "--label-column"


# ----------------------------------------------------------------------------- .npy / .npz
def _header_size(fp, what: str) -> None:
    """Read a .npy header from ``fp`` and check its float64 size against the budget."""
    fmt = np.lib.format
    version = fmt.read_magic(fp)
    read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
    shape, _, dtype = read(fp)
    if dtype.hasobject:
        raise DataError(f"DATA: {what} holds Python objects (dtype {dtype}); only numeric arrays are read "
                        "(pickled data is never loaded)")
    n = int(np.prod(shape, dtype=object)) if shape else 1
    require(n * (dtype.itemsize + 8), f"DATA: {what} of shape {shape} ({dtype})")


def _load_npy(source, what: str) -> np.ndarray:
    with open(source, "rb") as f:
        _header_size(f, what)
    return np.load(source, allow_pickle=False)


def _read_npz(path, x_key, y_key, labels_key) -> Data:
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            with zf.open(name) as f:
                _header_size(f, f"{path.name}[{name.removesuffix('.npy')!r}]")
    with np.load(path, allow_pickle=False) as z:
        if x_key not in z:
            raise DataError(f"DATA: {path} has no array {x_key!r} (keys: {', '.join(z.files)}); "
                            "choose one with --x-key")
        return Data(z[x_key], z[y_key] if y_key in z else None, z[labels_key] if labels_key in z else None)


def _check_sequences(X, what: str) -> np.ndarray:
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise DataError(f"{what}: expected real numeric sequences, got dtype {X.dtype}")
    if X.ndim not in (2, 3) or X.shape[0] < 1 or X.shape[1] < 2:
        raise DataError(f"{what}: expected sequences of shape (n, L) or (n, L, d) with L >= 2, got {X.shape}")
    X = X.astype(np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(X[idx]) else "inf"
        where = f"sequence {idx[0]}, step {idx[1]}" + (f", channel {idx[2]}" if len(idx) > 2 else "")
        raise DataError(f"{what}: {kind} at {where} (index {list(idx)}); {int(bad.sum())} non-finite values in "
                        "all; sequences must be finite")
    return X


def _map_labels(labels: np.ndarray, what: str):
    """Class labels -> (int64 class indices, original names or None when they were integers)."""
    if labels.ndim != 1:
        raise DataError(f"{what}: expected one label per sequence (1-D), got shape {labels.shape}")
    if labels.dtype.kind in "US":
        names = sorted(set(labels.tolist()))
        index = {v: k for k, v in enumerate(names)}
        return np.array([index[v] for v in labels.tolist()], dtype=np.int64), [str(v) for v in names]
    return labels, None


# ----------------------------------------------------------------------------- .csv
def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_csv(path: Path, label_column: str | None) -> Data:
    size = path.stat().st_size
    require(size * _CSV_BYTES_PER_FILE_BYTE, f"DATA: {path.name} ({size} bytes of text)")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        rows, lines = [], []  # non-blank rows and their 1-based line numbers in the file
        for r in reader:
            if r and any(c.strip() for c in r):
                rows.append(r)
                lines.append(reader.line_num)
    if not rows:
        raise DataError(f"DATA: {path} holds no rows")
    header = _header(rows, label_column)
    body, lines = (rows[1:], lines[1:]) if header else (rows, lines)
    if not body:
        raise DataError(f"DATA: {path} holds a header row but no data rows")
    width = len(body[0])
    for r, line in zip(body, lines, strict=True):
        if len(r) != width:
            raise DataError(f"DATA: line {line} of {path.name} has {len(r)} columns, line {lines[0]} has {width}")
    col = _label_index(label_column, header, width, path)
    data_cols = [j for j in range(width) if j != col]
    X = np.empty((len(body), len(data_cols)), dtype=np.float64)
    for i, r in enumerate(body):
        cells = [r[j] for j in data_cols]
        try:
            X[i] = np.array(cells, dtype=np.float64)
        except ValueError:
            j = next(k for k, c in enumerate(cells) if not _is_number(c))
            hint = "; if it is a class label, pass --label-column" if col is None else ""
            raise DataError(f"DATA: line {lines[i]}, column {data_cols[j]} (from 0) of {path.name} is "
                            f"{cells[j]!r}, not a number{hint}") from None
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise DataError(f"DATA: line {lines[i]}, column {data_cols[j]} (from 0) of {path.name} holds {X[i, j]}; "
                        f"sequences must be finite ({int(bad.sum())} such cells)")
    labels = names = None
    if col is not None:
        raw = [r[col].strip() for r in body]
        if all(_is_number(c) for c in raw):
            values = np.array(raw, dtype=np.float64)
            if not np.all(np.isfinite(values)):
                i = int(np.argwhere(~np.isfinite(values))[0][0])
                raise DataError(f"--label-column: line {lines[i]} of {path.name} holds the label {raw[i]!r}")
            labels = values.astype(np.int64) if np.all(values == np.round(values)) else values
        else:
            labels, names = _map_labels(np.array(raw), "--label-column")
    else:
        _warn_if_labels_inside(X, header)
    return Data(X, None, labels, names)


def _header(rows, label_column) -> list | None:
    """The header row, if the first row is one: a named --label-column, or a text cell above a number."""
    first = rows[0]
    if label_column is not None and not _is_int(label_column):
        return first
    if len(rows) == 1:
        return first if not any(_is_number(c) for c in first) else None
    second = rows[1]
    for a, b in zip(first, second, strict=False):
        if not _is_number(a) and _is_number(b):
            return first
    return None


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _label_index(label_column, header, width: int, path: Path) -> int | None:
    if label_column is None:
        return None
    if _is_int(label_column):
        k = int(label_column)
        if not -width <= k < width:
            raise DataError(f"--label-column: {k} is outside the {width} columns of {path.name}")
        return k % width
    names = [h.strip() for h in header]
    if label_column not in names:
        raise DataError(f"--label-column: no column named {label_column!r} in the header of {path.name} "
                        f"(columns: {', '.join(names[:8])}{', ...' if len(names) > 8 else ''})")
    return names.index(label_column)


def _warn_if_labels_inside(X: np.ndarray, header) -> None:
    """Warn when the first or last column holds few distinct integers while the others do not."""
    n, L = X.shape
    if n < 4 or L < 3:
        return
    for j in (0, L - 1):
        col = X[:, j]
        rest = np.delete(X, j, axis=1)
        few = len(np.unique(col)) <= min(_LABEL_MAX_CLASSES, n // 2)
        if np.all(col == np.round(col)) and few and not np.all(rest == np.round(rest)):
            name = f" ({header[j].strip()!r})" if header else ""
            warnings.warn(f"DATA: column {j}{name} (from 0) holds only {len(np.unique(col))} distinct integers while "
                          f"the other columns do not; if it holds class labels, pass --label-column {j}",
                          LabelWarning, stacklevel=2)
            return
