"""Two small, seeded Long-Range-Arena-style tasks (after Tay et al. 2021), sized for a CPU.

**ListOps.** A token sequence spells a nested expression over the digits 0-9, e.g.
``[MAX 2 9 [MIN 4 7 ] 0 ]``; the label is its value (10 classes). Operators: ``MAX``, ``MIN``,
``MED`` and ``SM`` (sum modulo 10). ``MED`` is the integer median as in LRA: the median of the
arguments, rounded down, so for an even count it is ``floor((a + b) / 2)`` of the two middle values
(``[MED 1 2 ]`` = 1, ``[MED 2 9 ]`` = 5). An operator and its opening bracket form one token. Trees are
drawn at random (root always an operator; below it a node is an operator with probability
``op_prob`` until ``max_depth`` operator levels, else a digit; 2..``max_args`` arguments each), and
a tree longer than ``max_length`` tokens is redrawn. Raw labels are uneven (MAX pulls to 9, MIN to
0; 9.4-11.1 % per class at the defaults, more with other settings), so drawing is done per class
quota: a tree whose label's quota is full is thrown away, which makes every class hold ``n // 10``
or ``n // 10 + 1`` samples, each drawn from the generator's distribution given its label.

**Pathfinder.** A ``side x side`` image holds ``n_paths`` curvy dashed paths and two dots. A path is
a self-avoiding 4-connected random walk that keeps its direction with probability
``1 - turn_prob``, inked in dashes (``dash`` pixels on, ``gap`` off; both ends inked). Label 1: the
dots are the two ends of one path; label 0: they are one end each of two different paths. Every
image has the same number of paths with the same length distribution, so ink carries no label, and
the dots' distance is drawn from one distribution for both labels, so it carries none either.
Paths keep a clearance: the centre lines of two different paths are at Chebyshev distance
>= ``gap + 2``, so linking inked pixels at distance <= ``gap + 1`` (which bridges the dashes) joins
exactly the pixels of one path: the label is connectivity, by construction, with no touching or
crossing. Ink is ``PATH_VALUE``, dots ``DOT_VALUE``, background 0.

Seeds: ``*_dataset(seed=s)`` draws train with seed ``2 s`` and test with ``2 s + 1``, so no split
of one data set shares a seed with any split of another.
"""

from __future__ import annotations

import inspect
import math
import numbers
import re

import numpy as np

from ssm_tdi.data.base import SequenceDataset

__all__ = [
    "LISTOPS_VOCAB", "PAD", "DOT_VALUE", "PATH_VALUE",
    "evaluate_listops", "encode_listops", "decode_listops", "generate_listops", "listops_dataset",
    "generate_pathfinder", "pathfinder_dataset",
]

OPERATORS = ("MAX", "MIN", "MED", "SM")
LISTOPS_VOCAB = ["<pad>"] + [str(d) for d in range(10)] + ["[" + op for op in OPERATORS] + ["]"]
PAD = 0
_TOKEN_ID = {tok: i for i, tok in enumerate(LISTOPS_VOCAB)}
DOT_VALUE = 1.0
PATH_VALUE = 0.5


def _int(x, name: str, lo: int) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name}: expected an integer >= {lo}, got {x!r}")
    if x < lo:
        raise ValueError(f"{name}: expected an integer >= {lo}, got {x}")
    return int(x)


def _defaults(fn) -> dict:
    sig = inspect.signature(fn)
    return {k: p.default for k, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}


def _apply(op: str, args: list[int]) -> int:
    if op == "MAX":
        return max(args)
    if op == "MIN":
        return min(args)
    if op == "SM":
        return sum(args) % 10
    s, k = sorted(args), len(args)
    return s[k // 2] if k % 2 else (s[k // 2 - 1] + s[k // 2]) // 2


# ----------------------------------------------------------------------------------------- ListOps
def evaluate_listops(expr: str) -> int:
    """Value of a ListOps expression (a bare digit is allowed); raises ValueError if malformed.

    Tokens may be separated by spaces or not (``"[SM 9 8]"`` works); each number is one digit.
    Parsing is a stack machine, independent of the generator's recursive evaluator.
    """
    if not isinstance(expr, str):
        raise TypeError(f"expr: expected a string, got {type(expr).__name__}")
    toks = re.findall(r"\[[A-Za-z]*|\]|\d+|[^\s\[\]\d]+", expr)
    if not toks:
        raise ValueError(f"expr: expected a ListOps expression, got {expr!r}")
    stack: list[tuple[str, list[int]]] = []
    value = None
    for i, tok in enumerate(toks):
        if value is not None:
            raise ValueError(f"expr: unexpected token {tok!r} after the complete expression (token {i})")
        if tok.startswith("["):
            if tok[1:] not in OPERATORS:
                raise ValueError(f"expr: unknown operator {tok!r} (token {i}); expected one of {OPERATORS}")
            stack.append((tok[1:], []))
            continue
        if tok == "]":
            if not stack:
                raise ValueError(f"expr: unmatched ']' (token {i})")
            op, args = stack.pop()
            if not args:
                raise ValueError(f"expr: operator {op} has no arguments (token {i})")
            v = _apply(op, args)
        elif tok.isdigit() and len(tok) == 1:
            v = int(tok)
        else:
            raise ValueError(f"expr: unknown token {tok!r} (token {i}); expected a digit 0-9, '[OP' or ']'")
        if stack:
            stack[-1][1].append(v)
        else:
            value = v
    if stack:
        raise ValueError(f"expr: {len(stack)} unclosed '[' in {expr!r}")
    return value


def encode_listops(expr: str) -> np.ndarray:
    """Token ids (int64) of a space-separated expression."""
    if not isinstance(expr, str):
        raise TypeError(f"expr: expected a string, got {type(expr).__name__}")
    try:
        return np.array([_TOKEN_ID[t] for t in expr.split()], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"expr: unknown token {exc.args[0]!r}; vocabulary is {LISTOPS_VOCAB[1:]}") from None


def decode_listops(tokens) -> str:
    """Space-separated expression of a token-id row; PAD ids are skipped."""
    t = np.asarray(tokens)
    if t.ndim != 1 or t.dtype.kind not in "iu" or (t.size and (t.min() < 0 or t.max() >= len(LISTOPS_VOCAB))):
        raise ValueError(f"tokens: expected a 1-D integer array of ids in [0, {len(LISTOPS_VOCAB)})")
    return " ".join(LISTOPS_VOCAB[i] for i in t.tolist() if i != PAD)


def _draw_tree(rng, depth: int, max_depth: int, max_args: int, op_prob: float):
    """Random tree as (op, children) / int; ``depth`` is this operator's level (root = 1)."""
    op = OPERATORS[rng.integers(len(OPERATORS))]
    children = []
    for _ in range(int(rng.integers(2, max_args + 1))):
        if depth < max_depth and rng.random() < op_prob:
            children.append(_draw_tree(rng, depth + 1, max_depth, max_args, op_prob))
        else:
            children.append(int(rng.integers(10)))
    return op, children


def _tree_value(tree) -> int:
    if isinstance(tree, int):
        return tree
    op, children = tree
    return _apply(op, [_tree_value(c) for c in children])


def _tree_tokens(tree, out: list[str]) -> list[str]:
    if isinstance(tree, int):
        out.append(str(tree))
    else:
        out.append("[" + tree[0])
        for c in tree[1]:
            _tree_tokens(c, out)
        out.append("]")
    return out


def generate_listops(n: int, seed: int, max_depth: int = 4, max_args: int = 5, max_length: int = 128,
                     op_prob: float = 0.5, exclude=None):
    """``n`` class-balanced ListOps samples: ``(tokens (n, max_length) int64, mask (n, max_length) bool,
    labels (n,) int64, strings)``. Rows are right-padded with PAD; samples come in random order.
    Expressions in ``exclude`` (a collection of strings) are redrawn."""
    n, seed = _int(n, "n", 1), _int(seed, "seed", 0)
    max_depth, max_args = _int(max_depth, "max_depth", 1), _int(max_args, "max_args", 2)
    max_length = _int(max_length, "max_length", 4)  # the shortest expression, e.g. "[SM 1 2 ]"
    if isinstance(op_prob, bool) or not isinstance(op_prob, numbers.Real) or not 0 <= op_prob <= 1:
        raise ValueError(f"op_prob: expected a number in [0, 1], got {op_prob!r}")
    if exclude is None:
        exclude = frozenset()
    elif isinstance(exclude, str) or not all(isinstance(e, str) for e in exclude):
        raise TypeError("exclude: expected None or a collection of expression strings")
    exclude = frozenset(exclude)
    rng = np.random.default_rng(seed)
    quota = np.full(10, n // 10) + (np.arange(10) < n % 10)
    strings, labels = [], []
    tries = 0
    while len(strings) < n:
        # Every label is reachable ([SM d 0] = d), so this ends; the cap guards against a hang when
        # ``exclude`` holds nearly every expression a tiny configuration can make.
        tries += 1
        if tries > 200 * n + 10000:
            raise RuntimeError("generate_listops: could not fill the class quotas; raise max_length or shrink exclude")
        tree = _draw_tree(rng, 1, max_depth, max_args, op_prob)
        toks = _tree_tokens(tree, [])
        y = _tree_value(tree)
        if len(toks) > max_length or quota[y] == 0:
            continue
        expr = " ".join(toks)
        if expr in exclude:
            continue
        quota[y] -= 1
        strings.append(expr)
        labels.append(y)
    order = rng.permutation(n)
    strings = [strings[i] for i in order]
    labels = np.asarray(labels, dtype=np.int64)[order]
    tokens = np.zeros((n, max_length), dtype=np.int64)
    for i, s in enumerate(strings):
        ids = encode_listops(s)
        tokens[i, : ids.size] = ids
    return tokens, tokens != PAD, labels, strings


def listops_dataset(n_train: int = 2000, n_test: int = 500, seed: int = 0, **kw) -> SequenceDataset:
    """ListOps train/test (``kw`` go to :func:`generate_listops`); train seed ``2 seed``, test ``2 seed + 1``,
    and no test expression occurs in train (short ones would otherwise repeat)."""
    n_train, n_test, seed = _int(n_train, "n_train", 1), _int(n_test, "n_test", 1), _int(seed, "seed", 0)
    if "exclude" in kw:
        raise TypeError("exclude: set by listops_dataset itself (the test split excludes the train strings)")
    Xtr, mtr, ytr, s_train = generate_listops(n_train, 2 * seed, **kw)
    Xte, mte, yte, _ = generate_listops(n_test, 2 * seed + 1, exclude=s_train, **kw)
    params = {**_defaults(generate_listops), **kw}
    return SequenceDataset("listops", Xtr, ytr, Xte, yte, n_classes=10, mask_train=mtr, mask_test=mte,
                           vocab_size=len(LISTOPS_VOCAB),
                           meta={"source": "ssm_tdi.data.lra (procedural)", "generator": params,
                                 "seeds": (2 * seed, 2 * seed + 1), "vocab": list(LISTOPS_VOCAB),
                                 "balance": "class quotas: n//10 or n//10+1 per class",
                                 "test_excludes_train": True})


# -------------------------------------------------------------------------------------- Pathfinder
_STEPS = ((0, 1), (1, 0), (0, -1), (-1, 0))  # right, down, left, up; +1 / +3 (mod 4) turns


def _walk(rng, blocked: np.ndarray, length: int, turn_prob: float) -> list[tuple[int, int]]:
    """Self-avoiding 4-connected walk of at most ``length`` pixels off ``blocked``; a new pixel may
    touch (4-adjacently) only the pixel it comes from, so the path never runs into itself."""
    side = blocked.shape[0]
    free = np.flatnonzero(~blocked)
    r, c = divmod(int(free[rng.integers(free.size)]), side)
    path, on, d = [(r, c)], {(r, c)}, int(rng.integers(4))
    while len(path) < length:
        ok = []
        for nd in (d, (d + 1) % 4, (d + 3) % 4):
            nr, nc = r + _STEPS[nd][0], c + _STEPS[nd][1]
            if not (0 <= nr < side and 0 <= nc < side) or blocked[nr, nc] or (nr, nc) in on:
                continue
            if any((nr + a, nc + b) in on and (nr + a, nc + b) != (r, c) for a, b in _STEPS):
                continue
            ok.append(nd)
        if not ok:
            break
        turns = [o for o in ok if o != d]
        d = turns[rng.integers(len(turns))] if turns and (d not in ok or rng.random() < turn_prob) else d
        r, c = r + _STEPS[d][0], c + _STEPS[d][1]
        path.append((r, c))
        on.add((r, c))
    return path


def _draw_image(rng, label: int, dist: int, side: int, n_paths: int, lo: int, hi: int, dash: int, gap: int,
                turn_prob: float) -> np.ndarray | None:
    """One image whose dots are ``dist`` apart (rounded Euclidean), or None when the paths did not fit
    or no pair of ends of the right kind lies at that distance (the caller redraws)."""
    blocked = np.zeros((side, side), dtype=bool)
    img = np.zeros((side, side), dtype=np.float32)
    ends = []
    for _ in range(n_paths):
        if blocked.all():
            return None
        path = _walk(rng, blocked, int(rng.integers(lo, hi + 1)), turn_prob)
        while (len(path) - 1) % (dash + gap) >= dash:  # trim so the last pixel is inked
            path.pop()
        if len(path) < lo:
            return None
        for i, (r, c) in enumerate(path):
            if i % (dash + gap) < dash:
                img[r, c] = PATH_VALUE
            # clearance: another path's centre line stays >= gap + 2 away (Chebyshev)
            blocked[max(r - gap - 1, 0): r + gap + 2, max(c - gap - 1, 0): c + gap + 2] = True
        ends.append(path[0])
        ends.append(path[-1])  # ends 2k and 2k + 1 belong to path k
    pairs = [(i, j) for i in range(len(ends)) for j in range(i + 1, len(ends))
             if (i // 2 == j // 2) == (label == 1)
             and round(math.hypot(ends[i][0] - ends[j][0], ends[i][1] - ends[j][1])) == dist]
    if not pairs:
        return None
    for k in pairs[rng.integers(len(pairs))]:
        img[ends[k]] = DOT_VALUE
    return img


def _int_range(v, name: str, default: tuple[int, int], lo: int) -> tuple[int, int]:
    v = default if v is None else v
    if (not isinstance(v, (tuple, list)) or len(v) != 2
            or not all(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in v)
            or not lo <= v[0] <= v[1]):
        raise ValueError(f"{name}: expected (min, max) integers with {lo} <= min <= max, got {v!r}")
    return int(v[0]), int(v[1])


def generate_pathfinder(n: int, seed: int, side: int = 16, n_paths: int = 3, path_length=None,
                        dot_distance=None, dash: int = 3, gap: int = 1, turn_prob: float = 0.3):
    """``n`` Pathfinder images ``(images (n, side, side) float32 in [0, 1], labels (n,) int64)``.

    ``n // 2`` images have label 1 and the rest label 0, in random order. ``path_length`` is the
    (min, max) number of centre-line pixels of a path, default ``(3 side // 4, 3 side // 2)``; walks
    that get stuck short of ``min`` are redrawn. ``gap = 0`` gives solid paths (connectivity =
    8-connected ink). The distance between the dots (Euclidean, rounded) is drawn uniformly from the
    integers in ``dot_distance``, default ``(max(gap + 2, side // 4), side - 4)``, for either label, so it
    says nothing about the label; the layout is redrawn until a pair of path ends of the wanted kind
    lies at that distance.
    """
    n, seed, side = _int(n, "n", 2), _int(seed, "seed", 0), _int(side, "side", 6)
    n_paths, dash, gap = _int(n_paths, "n_paths", 2), _int(dash, "dash", 1), _int(gap, "gap", 0)
    lo, hi = _int_range(path_length, "path_length", (3 * side // 4, 3 * side // 2), 2)
    d_lo, d_hi = _int_range(dot_distance, "dot_distance", (max(gap + 2, side // 4), side - 4), 1)
    if d_lo < gap + 2:  # ends of different paths are never closer: such a distance would give the label away
        raise ValueError(f"dot_distance: expected min >= gap + 2 = {gap + 2} (the clearance between paths), "
                         f"got {dot_distance!r}")
    if isinstance(turn_prob, bool) or not isinstance(turn_prob, numbers.Real) or not 0 <= turn_prob <= 1:
        raise ValueError(f"turn_prob: expected a number in [0, 1], got {turn_prob!r}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.r_[np.ones(n // 2, np.int64), np.zeros(n - n // 2, np.int64)])
    images = np.empty((n, side, side), dtype=np.float32)
    dists = rng.integers(d_lo, d_hi + 1, size=n)
    for i, y in enumerate(labels):
        for _ in range(2000):
            img = _draw_image(rng, int(y), int(dists[i]), side, n_paths, lo, hi, dash, gap, turn_prob)
            if img is not None:
                break
        else:
            raise ValueError(f"path_length, dot_distance: {n_paths} paths of {lo}..{hi} pixels (gap {gap}) with "
                             f"label-{y} dots {dists[i]} apart were not found on a {side}x{side} image in 2000 "
                             "tries; use shorter paths, fewer paths, a narrower dot_distance or a larger side")
        images[i] = img
    return images, labels


def pathfinder_dataset(n_train: int = 2000, n_test: int = 500, seed: int = 0, side: int = 16,
                       normalize: bool = True, **kw) -> SequenceDataset:
    """Pathfinder train/test as row-major pixel sequences ``(n, side**2, 1)``; ``normalize`` z-scores each
    image. ``kw`` go to :func:`generate_pathfinder`; train seed ``2 seed``, test ``2 seed + 1``."""
    n_train, n_test, seed = _int(n_train, "n_train", 2), _int(n_test, "n_test", 2), _int(seed, "seed", 0)
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize: expected a bool, got {normalize!r}")
    splits = []
    for n, s in ((n_train, 2 * seed), (n_test, 2 * seed + 1)):
        img, y = generate_pathfinder(n, s, side=side, **kw)
        X = img.reshape(n, side * side, 1)
        if normalize:  # every image holds ink, so the std is > 0
            X = (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)
        splits += [X.astype(np.float32), y]
    params = {**_defaults(generate_pathfinder), "side": side, **kw}
    return SequenceDataset("pathfinder", *splits, n_classes=2,
                           meta={"source": "ssm_tdi.data.lra (procedural)", "generator": params,
                                 "seeds": (2 * seed, 2 * seed + 1), "normalize": normalize,
                                 "layout": "row-major pixels, C=1"})
