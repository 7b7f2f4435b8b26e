"""Procedural LRA-style tasks (ssm_tdi.data.lra): ListOps values and tokens, Pathfinder connectivity."""

import math
import statistics
from collections import deque

import numpy as np
import pytest

from ssm_tdi.data import lra
from ssm_tdi.data.lra import (
    DOT_VALUE,
    LISTOPS_VOCAB,
    PATH_VALUE,
    decode_listops,
    encode_listops,
    evaluate_listops,
    generate_listops,
    generate_pathfinder,
    listops_dataset,
    pathfinder_dataset,
)

# ------------------------------------------------------------------------------------------ ListOps

# Values worked out by hand; MED of an even count is floor of the mean of the two middle values.
HAND = [
    ("[MAX 2 9 [MIN 4 7 ] 0 ]", 9),                    # MIN(4,7)=4; MAX(2,9,4,0)=9
    ("[MIN [MAX 1 [MED 7 2 5 ] ] [SM 3 4 ] 8 ]", 5),   # MED(2,5,7)=5, MAX(1,5)=5, SM=7, MIN(5,7,8)=5
    ("[MED 1 2 ]", 1),                                 # 1.5 -> 1
    ("[MED 2 9 ]", 5),                                 # 5.5 -> 5
    ("[MED 3 1 8 6 ]", 4),                             # 1 3 6 8: (3+6)/2 = 4.5 -> 4
    ("[MED 0 9 9 0 ]", 4),                             # 0 0 9 9: 4.5 -> 4
    ("[SM 9 8 7 ]", 4),                                # 24 mod 10
    ("[SM [MAX 9 9 ] [SM 5 5 ] 1 ]", 0),               # 9 + 0 + 1 = 10 -> 0 (wrap-around twice)
    ("[MIN [SM 9 2 ] 3 ]", 1),                         # SM = 11 mod 10 = 1
    ("[SM 9 8]", 7),                                   # no space before ']' is accepted
    ("7", 7),                                          # a bare digit is an expression
]


@pytest.mark.parametrize("expr,value", HAND)
def test_evaluate_hand_examples(expr, value):
    assert evaluate_listops(expr) == value


def test_med_is_floor_of_statistics_median():
    rng = np.random.default_rng(3)
    for _ in range(300):
        args = rng.integers(0, 10, size=rng.integers(1, 8)).tolist()
        expr = "[MED " + " ".join(map(str, args)) + " ]"
        assert evaluate_listops(expr) == math.floor(statistics.median(args)), args


@pytest.mark.parametrize("bad", ["", "   ", "[MAX ]", "[MAX 1 2", "[MAX 1 2 ] ]", "[FOO 1 ]", "[MAX 12 3 ]",
                                 "1 2", "]", "[MAX 1 x ]"])
def test_evaluate_rejects_malformed(bad):
    with pytest.raises(ValueError, match=r"^expr: "):
        evaluate_listops(bad)


def test_vocab_layout():
    assert LISTOPS_VOCAB[0] == "<pad>" and lra.PAD == 0
    assert LISTOPS_VOCAB[1:11] == [str(d) for d in range(10)]
    assert set(LISTOPS_VOCAB[11:]) == {"[MAX", "[MIN", "[MED", "[SM", "]"} and len(LISTOPS_VOCAB) == 16
    ids = encode_listops("[MAX 2 9 [MIN 4 7 ] 0 ]")
    assert ids.tolist() == [11, 3, 10, 12, 5, 8, 15, 1, 15]
    assert decode_listops(np.r_[ids, 0, 0]) == "[MAX 2 9 [MIN 4 7 ] 0 ]"


def test_generated_listops_consistent():
    n, L = 400, 96
    tokens, mask, labels, strings = generate_listops(n, 5, max_depth=3, max_args=4, max_length=L)
    assert tokens.shape == mask.shape == (n, L) and tokens.dtype == np.int64 and mask.dtype == np.bool_
    assert labels.shape == (n,) and labels.dtype == np.int64 and len(strings) == n
    assert np.array_equal(np.bincount(labels, minlength=10), np.full(10, 40))  # the promised quotas
    lengths = mask.sum(axis=1)
    for i in range(n):
        assert evaluate_listops(strings[i]) == labels[i]
        assert decode_listops(tokens[i]) == strings[i]
        assert lengths[i] == len(strings[i].split())
        assert mask[i, : lengths[i]].all() and not mask[i, lengths[i]:].any()  # right-padded
    assert np.array_equal(mask, tokens != lra.PAD)
    # max_depth=3 bounds the bracket nesting depth
    depth = np.cumsum(np.isin(tokens, [11, 12, 13, 14]).astype(int) - (tokens == 15), axis=1)
    assert depth.max() <= 3 and depth.max() == 3


def test_listops_balance_with_remainder():
    _, _, labels, _ = generate_listops(37, 0)
    counts = np.bincount(labels, minlength=10)
    assert counts.sum() == 37 and set(counts.tolist()) == {3, 4}


def test_listops_seeded():
    a = generate_listops(50, 1)
    b = generate_listops(50, 1)
    c = generate_listops(50, 2)
    assert all(np.array_equal(x, y) for x, y in zip(a[:3], b[:3], strict=True)) and a[3] == b[3]
    assert not np.array_equal(a[0], c[0])


def test_listops_dataset():
    ds = listops_dataset(n_train=200, n_test=60, seed=4, max_length=64)
    assert ds.vocab_size == 16 and ds.n_classes == 10 and ds.L == 64 and ds.tokens
    assert ds.X_train.shape == (200, 64) and ds.mask_test.shape == (60, 64)
    tok, mask, y, s_train = generate_listops(200, 8, max_length=64)  # train seed = 2 * seed
    assert np.array_equal(ds.X_train, tok) and np.array_equal(ds.y_train, y)
    test_strings = {decode_listops(row) for row in ds.X_test}
    assert not test_strings & set(s_train)
    assert ds.meta["generator"]["max_length"] == 64 and ds.meta["seeds"] == (8, 9)


def test_exclude_is_respected():
    _, _, _, s = generate_listops(100, 0, max_depth=1, max_args=2)   # only 400 distinct expressions exist
    _, _, _, s2 = generate_listops(100, 1, max_depth=1, max_args=2, exclude=s)
    assert not set(s2) & set(s)


@pytest.mark.parametrize("kw,name", [
    ({"n": 0}, "n"), ({"n": 2.5}, "n"), ({"n": True}, "n"), ({"seed": -1}, "seed"), ({"max_depth": 0}, "max_depth"),
    ({"max_args": 1}, "max_args"), ({"max_length": 3}, "max_length"), ({"op_prob": 1.5}, "op_prob"),
    ({"exclude": "[SM 1 2 ]"}, "exclude"),
])
def test_listops_bad_input(kw, name):
    args = {"n": 10, "seed": 0, **kw}
    with pytest.raises((ValueError, TypeError), match=rf"^{name}: "):
        generate_listops(**args)


def test_listops_helpers_bad_input():
    with pytest.raises(TypeError, match=r"^expr: "):
        evaluate_listops(5)
    with pytest.raises(ValueError, match=r"^expr: "):
        encode_listops("[MAX 1 X ]")
    with pytest.raises(ValueError, match=r"^tokens: "):
        decode_listops(np.array([1, 99]))
    with pytest.raises((ValueError, TypeError), match=r"^n_train: "):
        listops_dataset(n_train=0)
    with pytest.raises(TypeError, match=r"^exclude: "):
        listops_dataset(n_train=10, n_test=10, exclude=[])


# --------------------------------------------------------------------------------------- Pathfinder

def linked(img: np.ndarray, radius: int) -> bool:
    """Flood fill over inked pixels, stepping to any inked pixel within Chebyshev ``radius``
    (1 = 8-connectivity; 2 bridges one-pixel dash gaps); True if the two dots are joined."""
    dots = [tuple(p) for p in np.argwhere(img == DOT_VALUE)]
    assert len(dots) == 2
    ink = img > 0
    seen, todo = {dots[0]}, deque([dots[0]])
    while todo:
        r, c = todo.popleft()
        for a in range(-radius, radius + 1):
            for b in range(-radius, radius + 1):
                q = (r + a, c + b)
                if 0 <= q[0] < img.shape[0] and 0 <= q[1] < img.shape[1] and ink[q] and q not in seen:
                    seen.add(q)
                    todo.append(q)
    return dots[1] in seen


# side 8, two solid paths (gap 0), seed 7: images 0 and 1, drawn and traced by hand.
# '.' background, 'o' path, '#' dot.
SMALL = [
    ["...o....",
     "oooo....",
     "o.......",
     "o.oooo#.",
     "..o.....",
     "..o.....",
     "..o.....",
     "..oo#..."],
    ["........",
     "........",
     "........",
     "........",
     "..o..#..",
     "..oooo.o",
     ".......o",
     "....#ooo"],
]


def test_small_instance_by_hand():
    imgs, labels = generate_pathfinder(4, 7, side=8, n_paths=2, gap=0)
    code = {0.0: ".", PATH_VALUE: "o", DOT_VALUE: "#"}
    for k in range(2):
        assert ["".join(code[float(v)] for v in row) for row in imgs[k]] == SMALL[k]
    assert labels[:2].tolist() == [1, 0]
    # Positive: dot (3,6) runs left to (3,2), down to (7,2), right to dot (7,4): a 4-connected inked chain.
    chain = [(3, 6), (3, 5), (3, 4), (3, 3), (3, 2), (4, 2), (5, 2), (6, 2), (7, 2), (7, 3), (7, 4)]
    assert all(imgs[0][p] > 0 for p in chain)
    assert all(abs(p[0] - q[0]) + abs(p[1] - q[1]) == 1 for p, q in zip(chain[:-1], chain[1:], strict=True))
    assert imgs[0][chain[0]] == imgs[0][chain[-1]] == DOT_VALUE
    # Negative: dot (4,5) ends the path (4,2)-(5,2..5)-(4,5); dot (7,4) ends (5,7)-(6,7)-(7,7..4).
    # The two paths are one empty pixel apart everywhere (e.g. (5,5) and (5,7)), so no 8-connected chain.
    assert linked(imgs[0], 1) and not linked(imgs[1], 1)


@pytest.mark.parametrize("kw,radius", [({}, 2), ({"side": 8, "n_paths": 2, "gap": 0}, 1)])
def test_label_is_connectivity(kw, radius):
    imgs, labels = generate_pathfinder(200, 11, **kw)
    got = np.array([linked(im, radius) for im in imgs])
    assert np.array_equal(got, labels == 1)


def test_default_paths_are_dashed():
    # With one-pixel gaps, plain 8-connectivity must fail to join the dots in most positives,
    # so the task needs gap bridging (corner gaps stay 8-connected, hence "most", not all).
    imgs, labels = generate_pathfinder(100, 2)
    pos = imgs[labels == 1]
    assert np.mean([linked(im, 1) for im in pos]) < 0.2


def test_pathfinder_shapes_balance_seed():
    imgs, labels = generate_pathfinder(41, 3, side=12)
    assert imgs.shape == (41, 12, 12) and imgs.dtype == np.float32 and labels.dtype == np.int64
    assert labels.sum() == 20  # n // 2 positives
    assert set(np.unique(imgs).tolist()) == {0.0, PATH_VALUE, DOT_VALUE}
    assert ((imgs == DOT_VALUE).sum(axis=(1, 2)) == 2).all()
    again = generate_pathfinder(41, 3, side=12)
    other = generate_pathfinder(41, 4, side=12)
    assert np.array_equal(imgs, again[0]) and np.array_equal(labels, again[1])
    assert not np.array_equal(imgs, other[0])


def test_no_ink_or_distance_shortcut():
    imgs, labels = generate_pathfinder(400, 0)
    ink = (imgs > 0).sum(axis=(1, 2)).astype(float)
    dots = np.array([np.argwhere(im == DOT_VALUE) for im in imgs])
    dist = np.hypot(*(dots[:, 0] - dots[:, 1]).T)
    for f in (ink, dist):
        a, b = f[labels == 0], f[labels == 1]
        # Both classes are drawn from one distribution by construction; a 4-standard-error band on the
        # difference of means fails by chance with probability ~6e-5 (and the seed is fixed).
        assert abs(a.mean() - b.mean()) < 4 * math.sqrt(a.var() / a.size + b.var() / b.size)
    assert np.array_equal(np.round(dist), np.clip(np.round(dist), 4, 12))  # default dot_distance (4, 12)


def test_pathfinder_dataset():
    ds = pathfinder_dataset(n_train=40, n_test=20, seed=1, side=12)
    assert ds.X_train.shape == (40, 144, 1) and ds.X_train.dtype == np.float32 and ds.n_classes == 2
    # float32 z-scoring of 144 values: mean and std are exact to ~1e-6; 1e-4 leaves room.
    assert np.allclose(ds.X_train.mean(axis=1), 0, atol=1e-4) and np.allclose(ds.X_train.std(axis=1), 1, atol=1e-4)
    raw = pathfinder_dataset(n_train=40, n_test=20, seed=1, side=12, normalize=False)
    imgs, labels = generate_pathfinder(20, 3, side=12)  # test seed = 2 * seed + 1
    assert np.array_equal(raw.X_test[:, :, 0], imgs.reshape(20, 144)) and np.array_equal(raw.y_test, labels)
    assert raw.meta["generator"]["side"] == 12 and raw.meta["normalize"] is False


@pytest.mark.parametrize("kw,name", [
    ({"n": 1}, "n"), ({"seed": -2}, "seed"), ({"side": 4}, "side"), ({"n_paths": 1}, "n_paths"),
    ({"gap": -1}, "gap"), ({"dash": 0}, "dash"), ({"path_length": (9, 3)}, "path_length"),
    ({"path_length": 5}, "path_length"), ({"dot_distance": (2, 6)}, "dot_distance"),
    ({"turn_prob": -0.1}, "turn_prob"),
])
def test_pathfinder_bad_input(kw, name):
    args = {"n": 10, "seed": 0, **kw}
    with pytest.raises((ValueError, TypeError), match=rf"^{name}: "):
        generate_pathfinder(**args)
    with pytest.raises(TypeError, match=r"^normalize: "):
        pathfinder_dataset(n_train=4, n_test=4, normalize="yes")


def test_impossible_layout_raises():
    with pytest.raises(ValueError, match=r"^path_length, dot_distance: "):
        generate_pathfinder(2, 0, side=8, n_paths=4, path_length=(8, 10))
