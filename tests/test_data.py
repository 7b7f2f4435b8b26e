"""Tests of ssm_tdi.data: preprocessing (hand-checked small cases) and every classification loader.

Loader tests need the ``data`` extra (aeon, mnist1d, scikit-learn) and are skipped without it;
each data set is loaded once per module (fixture ``loaded``) and once more for determinism.
"""

from __future__ import annotations

import importlib.util
import random
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ssm_tdi.data as D
from ssm_tdi.data import (
    BUNDLED_UCR,
    SequenceDataset,
    load_dataset,
    load_digits_sequences,
    load_mnist1d,
    load_ucr,
    pad_sequences,
    train_val_split,
    training_subset,
    znormalize,
)

# float32 output of float64 arithmetic: each value carries a relative rounding error <= 6e-8; a mean
# or std over L <= 1460 values of size <= sqrt(L) ~ 38 is then off by at most ~38 * 6e-8 ~ 2e-6.
TOL_NORM = 1e-5

# ---------------------------------------------------------------- znormalize


def test_znormalize_hand_values():
    # [1, 2, 3]: mean 2, population std sqrt(2/3); channel 1 is constant -> zeros, not NaN.
    X = np.array([[[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]]])
    out = znormalize(X)
    s = np.sqrt(1.5)
    np.testing.assert_allclose(out[0, :, 0], [-s, 0.0, s], rtol=1e-6)
    assert out.dtype == np.float32 and (out[0, :, 1] == 0).all()


def test_znormalize_mask_ignores_padding_and_zeroes_it():
    X = np.array([[[1.0], [3.0], [np.nan]], [[4.0], [0.0], [2.0]]])
    mask = np.array([[True, True, False], [True, True, True]])
    out = znormalize(X, mask)
    # row 0 over [1, 3]: mean 2, std 1 -> [-1, 1], padding 0; row 1 over [4, 0, 2]: mean 2, std sqrt(8/3)
    np.testing.assert_allclose(out[0, :, 0], [-1.0, 1.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(out[1, :, 0], np.array([2.0, -2.0, 0.0]) / np.sqrt(8 / 3), rtol=1e-6)


def test_znormalize_constant_up_to_rounding_is_zero():
    X = np.full((1, 7, 1), 0.1) + np.array([0, 0, 0, 0, 0, 0, 1e-17])[None, :, None]
    assert (znormalize(X) == 0).all()


def test_znormalize_per_sequence_no_leak():
    # normalizing a concatenation equals normalizing the parts: no statistic crosses sequences
    rng = np.random.default_rng(0)
    A, B = rng.normal(3, 2, (4, 10, 2)), rng.normal(-1, 5, (3, 10, 2))
    np.testing.assert_array_equal(znormalize(np.concatenate([A, B])), np.concatenate([znormalize(A), znormalize(B)]))


@pytest.mark.parametrize("args, word", [
    ((np.zeros((3, 4)),), "X"),
    ((np.array([[[np.nan], [1.0]]]),), "X"),
    ((np.zeros((1, 2, 1)), np.ones((1, 3), bool)), "mask"),
    ((np.zeros((1, 2, 1)), np.zeros((1, 2), bool)), "mask"),
    ((np.zeros((1, 2, 1)), None, -1.0), "eps"),
])
def test_znormalize_bad_input(args, word):
    with pytest.raises(ValueError, match=f"^{word}:"):
        znormalize(*args)


# ---------------------------------------------------------------- pad_sequences


def test_pad_sequences_values_and_mask():
    X, m = pad_sequences([np.array([1.0, 2.0, 3.0]), np.array([4.0])])
    np.testing.assert_array_equal(X[:, :, 0], [[1, 2, 3], [4, 0, 0]])
    np.testing.assert_array_equal(m, [[True, True, True], [True, False, False]])
    assert X.dtype == np.float32 and X.shape == (2, 3, 1)
    X, m = pad_sequences([np.ones((2, 2)), 2 * np.ones((1, 2))], length=4)
    assert X.shape == (2, 4, 2) and m.sum(axis=1).tolist() == [2, 1]
    assert X[1, 0].tolist() == [2, 2] and (X[1, 1:] == 0).all()


@pytest.mark.parametrize("seqs, length, word", [
    ([np.ones(3)], 2, "length"),
    ([np.ones(3)], 0, "length"),
    ([], None, "seqs"),
    (np.ones((2, 3)), None, "seqs"),
    ([np.ones((2, 1)), np.ones((2, 2))], None, "seqs"),
    ([np.array([1.0, np.nan])], None, "seqs"),
    ([np.ones((0, 1))], None, "seqs"),
])
def test_pad_sequences_bad_input(seqs, length, word):
    with pytest.raises(ValueError, match=f"^{word}:"):
        pad_sequences(seqs, length)


# ---------------------------------------------------------------- training_subset / train_val_split

LABELS = np.array([0] * 10 + [1] * 3 + [2])  # classes of 10, 3 and 1


@pytest.mark.parametrize("fraction, counts", [
    (0.1, [1, 1, 1]),   # round(1.0)=1, max(1, round(0.3))=1, max(1, round(0.1))=1
    (0.25, [3, 1, 1]),  # round(2.5)=3 (halves up), round(0.75)=1, at least 1
    (0.5, [5, 2, 1]),   # round(1.5)=2
    (1.0, [10, 3, 1]),
])
def test_training_subset_counts(fraction, counts):
    idx = training_subset(LABELS, fraction, seed=0)
    assert idx.dtype == np.int64 and (np.diff(idx) > 0).all()
    assert np.bincount(LABELS[idx], minlength=3).tolist() == counts


def test_training_subset_nested_deterministic_random():
    y = np.random.default_rng(1).integers(0, 5, 400)
    fracs = [0.01, 0.05, 0.1, 0.2, 0.5, 1.0]
    subsets = [set(training_subset(y, f, seed=3).tolist()) for f in fracs]
    assert all(a <= b for a, b in zip(subsets, subsets[1:], strict=False))
    assert subsets[-1] == set(range(400))
    assert all(set(y[list(s)]) == set(range(5)) for s in subsets)  # every class present
    np.testing.assert_array_equal(training_subset(y, 0.1, 3), training_subset(y, 0.1, 3))
    assert not np.array_equal(training_subset(y, 0.1, 3), training_subset(y, 0.1, 4))
    # a random draw, not the first members of a class
    c0 = np.flatnonzero(y == 0)
    picked = np.intersect1d(training_subset(y, 0.1, 3), c0)
    assert not np.array_equal(picked, c0[: picked.size])


def test_train_val_split_counts_and_partition():
    tr, va = train_val_split(LABELS, 0.2, seed=0)  # floor(2.0)=2, floor(0.6)=0, floor(0.2)=0
    assert np.bincount(LABELS[va], minlength=3).tolist() == [2, 0, 0]
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(14))
    tr, va = train_val_split(LABELS, 0.9, seed=0, min_train_per_class=3)  # min(9, 10-3)=7, min(2, 0)=0
    assert np.bincount(LABELS[va], minlength=3).tolist() == [7, 0, 0]
    assert np.bincount(LABELS[tr], minlength=3).tolist() == [3, 3, 1]
    # floor with a tolerance: 0.29 * 100 is 28.999999999999996 in floating point, still 29
    assert train_val_split(np.zeros(100, np.int64), 0.29, 0)[1].size == 29


def test_train_val_split_empty_val_and_keeps_one_per_class():
    tr, va = train_val_split(np.array([0, 1, 2, 2]), 0.5, seed=0)  # floor(0.5)=0, floor(1)=1 but keep 1
    assert va.tolist() in ([2], [3]) and len(tr) == 3
    tr, va = train_val_split(np.array([0, 1, 2]), 0.6, seed=0)
    assert va.size == 0 and va.dtype == np.int64 and tr.tolist() == [0, 1, 2]
    assert train_val_split(LABELS, 0.0, seed=0)[1].size == 0
    y = np.random.default_rng(2).integers(0, 4, 50)
    for v in (0.3, 0.6, 0.95):
        tr, va = train_val_split(y, v, seed=1)
        assert set(y[tr]) == set(y)


def test_train_val_split_deterministic_and_nested():
    y = np.random.default_rng(5).integers(0, 3, 90)
    a = train_val_split(y, 0.2, 7)
    b = train_val_split(y, 0.2, 7)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert set(a[1]) <= set(train_val_split(y, 0.4, 7)[1])
    assert not np.array_equal(a[1], train_val_split(y, 0.2, 8)[1])


@pytest.mark.parametrize("call, err, word", [
    (lambda: training_subset(LABELS, 0, 0), ValueError, "fraction"),
    (lambda: training_subset(LABELS, 1.5, 0), ValueError, "fraction"),
    (lambda: training_subset(LABELS, True, 0), ValueError, "fraction"),
    (lambda: training_subset(LABELS, float("nan"), 0), ValueError, "fraction"),
    (lambda: training_subset(LABELS, 0.5, -1), ValueError, "seed"),
    (lambda: training_subset(LABELS, 0.5, 1.0), ValueError, "seed"),
    (lambda: training_subset(LABELS.astype(float), 0.5, 0), TypeError, "labels"),
    (lambda: training_subset(LABELS[:, None], 0.5, 0), ValueError, "labels"),
    (lambda: training_subset([], 0.5, 0), ValueError, "labels"),
    (lambda: train_val_split(LABELS, 1.0, 0), ValueError, "val_fraction"),
    (lambda: train_val_split(LABELS, -0.1, 0), ValueError, "val_fraction"),
    (lambda: train_val_split(LABELS, 0.2, 0, min_train_per_class=0), ValueError, "min_train_per_class"),
])
def test_subset_bad_input(call, err, word):
    with pytest.raises(err, match=f"^{word}:"):
        call()


# ---------------------------------------------------------------- loaders

HAVE_EXTRA = all(importlib.util.find_spec(m) is not None for m in ("aeon", "mnist1d", "sklearn"))
needs_extra = pytest.mark.skipif(not HAVE_EXTRA, reason='needs the data extra: pip install -e ".[data]"')


def _aeon_data_dir() -> Path:
    import aeon

    return Path(aeon.__file__).parent / "datasets" / "data"

# name: (n_train, n_test, L, C, n_classes, train length range, test length range) - the archive's
# published figures (timeseriesclassification.com), MNIST-1D defaults, 1797 digits split 75/25.
EXPECTED = {
    "ACSF1": (100, 100, 1460, 1, 10, (1460, 1460), (1460, 1460)),
    "ArrowHead": (36, 175, 251, 1, 3, (251, 251), (251, 251)),
    "BasicMotions": (40, 40, 100, 6, 4, (100, 100), (100, 100)),
    "GunPoint": (50, 150, 150, 1, 2, (150, 150), (150, 150)),
    "ItalyPowerDemand": (67, 1029, 24, 1, 2, (24, 24), (24, 24)),
    "JapaneseVowels": (270, 370, 29, 12, 9, (7, 26), (7, 29)),
    "OSULeaf": (200, 242, 427, 1, 6, (427, 427), (427, 427)),
    "PickupGestureWiimoteZ": (50, 50, 361, 1, 10, (29, 361), (37, 324)),
    "mnist1d": (4000, 1000, 40, 1, 10, None, None),
    "digits": (1352, 445, 64, 1, 10, None, None),
}
NAMES = list(EXPECTED)


def _load(name):
    return load_dataset(name, seed=42 if name == "mnist1d" else 0)


@pytest.fixture(scope="module")
def loaded():
    return {n: _load(n) for n in NAMES}


@needs_extra
def test_bundled_list_is_what_we_expect():
    assert set(BUNDLED_UCR) == set(NAMES) - {"mnist1d", "digits"}
    root = _aeon_data_dir()
    for n in BUNDLED_UCR:
        assert (root / n / f"{n}_TRAIN.ts").is_file()


@needs_extra
@pytest.mark.parametrize("name", NAMES)
def test_loader_shapes_and_preprocessing(loaded, name):
    ds = loaded[name]
    n_tr, n_te, L, C, K, len_tr, len_te = EXPECTED[name]
    assert isinstance(ds, SequenceDataset) and ds.name == name
    assert (ds.n_train, ds.n_test, ds.L, ds.d_input, ds.n_classes) == (n_tr, n_te, L, C, K)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert set(np.unique(ds.y_train)) == set(range(K))  # every class appears in training
    for X, m in ((ds.X_train, ds.mask_train), (ds.X_test, ds.mask_test)):
        assert np.isfinite(X).all()
        if m is not None:  # mask is a prefix of each row; padding is zero
            n_valid = m.sum(axis=1)
            np.testing.assert_array_equal(m, np.arange(L)[None, :] < n_valid[:, None])
            assert (X[~m] == 0).all()
    if len_tr is None:
        assert ds.mask_train is None
        return
    assert ds.meta["lengths"] == {"train": len_tr, "test": len_te}
    assert (ds.mask_train is not None) == (len_tr[0] != len_tr[1] or len_te[0] != len_te[1])
    if ds.mask_train is not None:
        assert (ds.mask_train.sum(1).min(), ds.mask_train.sum(1).max()) == len_tr
        assert (ds.mask_test.sum(1).min(), ds.mask_test.sum(1).max()) == len_te
    # z-normalized: every valid (sequence, channel) has mean 0 and std 1 (or is all zero if constant)
    m = np.ones(ds.X_train.shape[:2], bool) if ds.mask_train is None else ds.mask_train
    cnt = m.sum(1)[:, None]
    mean = (ds.X_train * m[:, :, None]).sum(1) / cnt
    std = np.sqrt((ds.X_train.astype(np.float64) ** 2 * m[:, :, None]).sum(1) / cnt)
    assert np.abs(mean).max() < TOL_NORM
    assert np.all((np.abs(std - 1) < TOL_NORM) | (std == 0))


@needs_extra
@pytest.mark.parametrize("name", NAMES)
def test_loader_deterministic(loaded, name):
    a, b = loaded[name], _load(name)
    for f in ("X_train", "y_train", "X_test", "y_test", "mask_train", "mask_test"):
        x, y = getattr(a, f), getattr(b, f)
        assert (x is None and y is None) or np.array_equal(x, y)


def _first_series(path: Path):
    """Independent reading of a .ts file's first data line: (L, C) values and the label."""
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "@")):
            *chans, label = line.split(":")
            return np.array([[float(v) for v in c.split(",")] for c in chans]).T, label.strip().lower()
    raise AssertionError(path)


@needs_extra
@pytest.mark.parametrize("name", BUNDLED_UCR)
def test_ucr_raw_values_and_labels_match_file(name):
    ds = load_ucr(name, normalize=False)
    x, label = _first_series(_aeon_data_dir() / name / f"{name}_TRAIN.ts")
    np.testing.assert_array_equal(ds.X_train[0, : len(x)], x.astype(np.float32))
    assert ds.meta["classes"][ds.y_train[0]] == label and ds.meta["normalization"] == "none"
    order = [float(c) for c in ds.meta["classes"]] if name != "BasicMotions" else ds.meta["classes"]
    assert order == sorted(order)
    assert ds.meta["source"].startswith("aeon ") and ds.meta["source"].endswith(" bundled")


# The equal-length univariate sets of the study ship z-normalized by the archive, so the recipe's
# `normalize` option barely moves them (measured 2026-12-03: ItalyPowerDemand 0.071, because the
# archive divided its 24-point series by the n-1 standard deviation and znormalize by the n one, a
# factor sqrt(24/23) on values up to |x| = 3.3; the other four < 0.01). The README relies on this.
# The bound is a tenth of a unit standard deviation, the scale at which the option could change
# what a model sees.
SHIPPED_NORMALIZED = ["ItalyPowerDemand", "GunPoint", "ArrowHead", "OSULeaf", "ACSF1"]


@needs_extra
@pytest.mark.parametrize("name", SHIPPED_NORMALIZED)
def test_univariate_sets_ship_znormalized(name):
    a, b = load_ucr(name), load_ucr(name, normalize=False)
    moved = max(np.abs(a.X_train - b.X_train).max(), np.abs(a.X_test - b.X_test).max())
    assert moved < 0.1, f"{name}: normalize moves values by {moved:.3f}"


@needs_extra
def test_multichannel_or_ragged_sets_are_not_shipped_normalized():
    # the sets where the option does matter (hence the validation checks in the README)
    for name in ("PickupGestureWiimoteZ", "BasicMotions", "JapaneseVowels"):
        a, b = load_ucr(name), load_ucr(name, normalize=False)
        assert np.abs(a.X_train - b.X_train).max() > 1.0, name


@needs_extra
def test_loaders_offline(monkeypatch):
    def no_network(*a, **k):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert load_ucr("GunPoint").n_train == 50
    assert load_mnist1d(n_samples=100).n_train == 80
    assert load_digits_sequences().n_test == 445
    with pytest.raises(ValueError, match="^name: 'Adiac' is not bundled.*GunPoint"):
        load_ucr("Adiac")


@needs_extra
def test_missing_package_message(monkeypatch):
    for mod in ("aeon", "aeon.datasets", "mnist1d", "mnist1d.data", "sklearn", "sklearn.datasets"):
        monkeypatch.setitem(sys.modules, mod, None)
    for call in (lambda: load_ucr("GunPoint"), lambda: load_mnist1d(100), load_digits_sequences):
        with pytest.raises(ImportError, match=r'pip install -e "\.\[data\]"'):
            call()


def test_import_is_cheap():
    code = ("import sys, ssm_tdi.data; "
            "print([m for m in ('aeon', 'sklearn', 'mnist1d', 'torch', 'ssm_tdi.data.lra') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------- local archive (.ts files in tmp_path)

TS_HEADER = "@problemName Toy\n@timeStamps false\n@missing {miss}\n@univariate false\n@dimensions 2\n" \
            "@equalLength false\n@classLabel true {labels}\n@data\n"


def _write_toy(root: Path, train: str, test: str, labels="2 10 b", miss="false"):
    d = root / "Toy"
    d.mkdir(parents=True, exist_ok=True)
    for split, body in (("TRAIN", train), ("TEST", test)):
        (d / f"Toy_{split}.ts").write_text(TS_HEADER.format(labels=labels, miss=miss) + body)
    return d


@needs_extra
def test_local_archive_end_to_end(tmp_path):
    _write_toy(tmp_path, "1,2,3:4,5,6:10\n7,8:9,1:2\n", "3,1,2,NaN:0,0,1,NaN:2\n5,6,7,8:1,2,3,4:10\n",
               labels="2 10")
    ds = load_ucr("Toy", root=tmp_path, normalize=False)
    assert ds.meta["classes"] == ["2", "10"]  # numeric order, not string order
    assert ds.y_train.tolist() == [1, 0] and ds.y_test.tolist() == [0, 1]
    assert ds.X_train.shape == (2, 4, 2) and ds.X_test.shape == (2, 4, 2)
    np.testing.assert_array_equal(ds.X_train[1], [[7, 9], [8, 1], [0, 0], [0, 0]])
    np.testing.assert_array_equal(ds.mask_test, [[True, True, True, False], [True] * 4])  # trailing NaN = padding
    assert ds.meta["lengths"] == {"train": (2, 3), "test": (3, 4)}
    assert str(tmp_path) in ds.meta["source"]
    dn = load_dataset("Toy", root=str(tmp_path))  # the registry reads any name from root
    np.testing.assert_allclose(dn.X_train[0, :3, 0], [-np.sqrt(1.5), 0, np.sqrt(1.5)], rtol=1e-6)
    assert (dn.X_train[0, 3] == 0).all()


@needs_extra
def test_local_archive_string_labels_sorted(tmp_path):
    _write_toy(tmp_path, "1,2:3,4:walk\n5,6:7,8:Run\n", "1,2:3,4:sit\n", labels="walk run sit")
    ds = load_ucr("Toy", root=tmp_path)
    assert ds.meta["classes"] == ["run", "sit", "walk"] and ds.n_classes == 3
    assert ds.y_train.tolist() == [2, 0] and ds.y_test.tolist() == [1]


@needs_extra
def test_local_archive_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Nope"):
        load_ucr("Nope", root=tmp_path)
    d = _write_toy(tmp_path, "1,2:3,4:2\n", "1,2:3,4:10\n", labels="2 10")
    (d / "Toy_TEST.ts").unlink()
    with pytest.raises(FileNotFoundError, match="Toy_TEST.ts"):
        load_ucr("Toy", root=tmp_path)
    _write_toy(tmp_path, "1,2:3,4:2\n", "1,abc:3,4:10\n", labels="2 10")
    with pytest.raises(ValueError, match="Toy_TEST.ts: not a readable .ts file"):
        load_ucr("Toy", root=tmp_path)
    _write_toy(tmp_path, "1,NaN,2:3,4,5:2\n", "1,2:3,4:10\n", labels="2 10", miss="true")
    with pytest.raises(ValueError, match="Toy_TRAIN.ts: series 0 has missing values inside"):
        load_ucr("Toy", root=tmp_path)
    (d / "Toy_TRAIN.ts").write_text("@problemName Toy\n@targetlabel true\n@data\n1,2:0.5\n")
    with pytest.raises(ValueError, match="Toy_TRAIN.ts: not a classification problem"):
        load_ucr("Toy", root=tmp_path)
    (d / "Toy_TRAIN.ts").write_text("@problemName Toy\n@classLabel true a b\n@data\n1,2,3\n")  # no label
    with pytest.raises(ValueError, match="Toy_TRAIN.ts: series 0 has no values"):
        load_ucr("Toy", root=tmp_path)
    (d / "Toy_TRAIN.ts").write_text("garbage without a header\n")
    with pytest.raises(ValueError, match="Toy_TRAIN.ts"):
        load_ucr("Toy", root=tmp_path)
    with pytest.raises(ValueError, match="^name:"):
        load_ucr("../Toy", root=tmp_path)


# ---------------------------------------------------------------- packaged sets and registry


@needs_extra
def test_mnist1d_restores_global_rng_and_balances_classes():
    np.random.seed(123)
    random.seed(123)
    a, b = np.random.rand(), random.random()
    np.random.seed(123)
    random.seed(123)
    ds = load_mnist1d(n_samples=200, seed=1)
    assert (np.random.rand(), random.random()) == (a, b)
    # n_samples // 10 per class over train + test; the generator standardizes the whole set
    y = np.concatenate([ds.y_train, ds.y_test])
    assert np.bincount(y).tolist() == [20] * 10
    X = np.concatenate([ds.X_train, ds.X_test]).astype(np.float64)
    assert abs(X.mean()) < 1e-5 and abs(X.std() - 1) < 1e-5  # float32 rounding only (see TOL_NORM)
    assert not np.array_equal(ds.X_train, load_mnist1d(n_samples=200, seed=2).X_train)
    with pytest.raises(ValueError, match="^n_samples:"):
        load_mnist1d(n_samples=105)


@needs_extra
def test_digits_values_and_stratified_split():
    from sklearn.datasets import load_digits

    ds = load_digits_sequences(normalize=False)
    raw = load_digits()
    tr = ds.meta["train_indices"]
    np.testing.assert_array_equal(ds.X_train[:, :, 0], (raw.data[tr] / 16).astype(np.float32))
    np.testing.assert_array_equal(ds.X_train[0, :8, 0], raw.images[tr[0], 0] / 16)  # row-major: row 0 first
    assert np.bincount(ds.y_test).tolist() == [c // 4 for c in np.bincount(raw.target)]  # floor(0.25 n_c)
    assert not np.array_equal(tr, load_digits_sequences(seed=1).meta["train_indices"])
    with pytest.raises(ValueError, match="^test_fraction:"):
        load_digits_sequences(test_fraction=0)


@needs_extra
def test_registry(loaded):
    names = D.list_datasets()
    assert set(names) == set(BUNDLED_UCR) | {"mnist1d", "digits", "listops", "pathfinder"}
    assert all(D.DATASETS[n].name == n for n in names)
    with pytest.raises(ValueError, match="^name: unknown data set 'gunpoint'.*GunPoint.*mnist1d"):
        load_dataset("gunpoint")
    with pytest.raises(TypeError, match="^name:"):
        load_dataset(3)
    with pytest.raises(ValueError, match="^seed:"):
        load_dataset("GunPoint", seed=-1)
    # UCR ignores seed (fixed published split); kwargs reach the loader
    assert np.array_equal(load_dataset("GunPoint", seed=5).X_train, loaded["GunPoint"].X_train)
    assert load_dataset("GunPoint", normalize=False).meta["normalization"] == "none"
    assert load_dataset("mnist1d", seed=3, n_samples=50).n_train == 40


@pytest.mark.parametrize("name", ["listops", "pathfinder"])
def test_registry_lra(name):
    pytest.importorskip("ssm_tdi.data.lra")
    a = load_dataset(name, seed=1, n_train=20, n_test=10)
    b = load_dataset(name, seed=1, n_train=20, n_test=10)
    assert isinstance(a, SequenceDataset) and (a.n_train, a.n_test) == (20, 10)
    assert np.array_equal(a.X_train, b.X_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.X_train, load_dataset(name, seed=2, n_train=20, n_test=10).X_train)


# ----------------------------------------------------------------------------- distinct fractions (issue 15)
def test_distinct_fractions_drops_fractions_with_the_same_subset_and_says_which():
    from ssm_tdi.data.prep import distinct_fractions

    y = np.repeat(np.arange(4), 10)  # BasicMotions: 4 classes x 10
    kept, dropped = distinct_fractions(y, [0.05, 0.1, 0.25, 0.5, 1.0])
    assert kept == [0.1, 0.25, 0.5, 1.0] and dropped == {0.05: 0.1}  # 4 of 40 samples is 10%, not 5%
    for seed in range(5):  # the dropped fraction's subset IS the kept one's, for every seed
        np.testing.assert_array_equal(training_subset(y, 0.05, seed), training_subset(y, 0.1, seed))
    # every kept pair differs in size, for an unbalanced label set too
    y2 = np.array([0] * 50 + [1] * 7 + [2] * 3)
    kept2, dropped2 = distinct_fractions(y2, [0.01, 0.02, 0.05, 0.1, 0.25, 1.0])
    sizes = [training_subset(y2, f, 0).size for f in kept2]
    assert sizes == sorted(set(sizes))
    for f, k in dropped2.items():
        assert training_subset(y2, f, 3).tolist() == training_subset(y2, k, 3).tolist()
    with pytest.raises(ValueError, match="fractions"):
        distinct_fractions(y, [0.0, 0.5])
    with pytest.raises(ValueError, match="fractions"):
        distinct_fractions(y, "0.5")
