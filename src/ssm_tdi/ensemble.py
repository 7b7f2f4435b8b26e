"""Train many runs of one architecture as one: a batched ensemble under ``torch.func.vmap``.

The study E3 trains thousands of small DeepSSMs; at d_model 64 a step is dominated by per-op
overhead, not arithmetic, so E runs that share an architecture (seeds of one data set and fraction,
and inits whose models have the same shapes) are stacked: every parameter gets a leading member axis
(``torch.func.stack_module_state`` layout), one ``vmap`` of ``DeepSSM.forward_unchecked`` computes all
members' losses, one backward gives each member its own gradient (members share no computation
path, so the gradient of the summed loss w.r.t. member e's slice is member e's gradient), and one
AdamW step updates all slices element-wise.

:func:`train_ensemble` reproduces what :func:`ssm_tdi.training.train` does for each member with its
own config:

* data order: member e's batches come from ``torch.randperm`` of a generator seeded with its
  ``config.seed``, drawn once per epoch as in ``training._batches``;
* dropout: ``training.train`` seeds the global RNG with ``config.seed`` and only dropout draws from
  it; here each member has its own generator seeded the same way and its masks are drawn in the
  same call order with the same shape and the same op (``bernoulli_(1 - p)`` then ``div_(1 - p)``,
  what ``F.dropout`` does on CPU), then fed into the vmapped forward: the masks are bit-identical;
* optimizer: AdamW is element-wise, so per-member moments live in the slices of the stacked state;
  the param groups (lr, weight decay) are those ``layers.param_groups`` gives one member;
* gradient clipping: per member, over that member's gradients (``clip_grad_norm_`` semantics);
* validation / early stopping / best-state restore: per member; a member that stopped keeps being
  computed (its slice is discarded: its best state is restored at the end, as in a single run).

Differences, all at the level of float rounding: batched matrix products and reductions may sum
in another order than the unbatched ones, and the clipping norm is reduced per member row rather
than per whole tensor; ``tests/test_ensemble.py`` bounds the effect. ``TrainResult.seconds`` is the
ensemble's wall time divided by E (each member's share). No per-step callback.
"""

from __future__ import annotations

import copy
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from .training import TrainConfig, TrainResult, _batches, _check_data

__all__ = ["train_ensemble"]

# config fields that must agree across members (everything but the seed)
_SHARED = ("task", "epochs", "batch_size", "lr", "ssm_lr", "weight_decay", "patience", "grad_clip",
           "steps", "min_epochs")


class _FedDropout(nn.Module):
    """Dropout whose masks are supplied from outside (the ensemble draws them per member)."""

    def __init__(self, p: float, feed: list):
        super().__init__()
        self.p, self.feed = p, feed

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        return x * self.feed.pop(0)


class _Unchecked(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.m = model

    def forward(self, x, mask):
        return self.m.forward_unchecked(x, mask)


def _check_members(models, data, configs, val_data):
    from .models import DeepSSM

    E = len(models)
    if E == 0 or len(data) != E or len(configs) != E or (val_data is not None and len(val_data) != E):
        raise ValueError(f"models, data, configs, val_data: expected lists of one equal length >= 1, got "
                         f"{E}, {len(data)}, {len(configs)}, {None if val_data is None else len(val_data)}")
    ref = [(n, p.shape, p.dtype, p.requires_grad) for n, p in models[0].named_parameters()]
    for e, m in enumerate(models):
        if not isinstance(m, DeepSSM):
            raise ValueError(f"models[{e}]: expected a DeepSSM, got {type(m).__name__}")
        if [(n, p.shape, p.dtype, p.requires_grad) for n, p in m.named_parameters()] != ref:
            raise ValueError(f"models[{e}]: parameters differ in names, shapes, dtypes or trainability from models[0]")
        if [type(a) for a in m.modules()] != [type(a) for a in models[0].modules()] or m.task != models[0].task:
            raise ValueError(f"models[{e}]: architecture differs from models[0]")
        if [d.p for d in m.modules() if isinstance(d, nn.Dropout)] != \
                [d.p for d in models[0].modules() if isinstance(d, nn.Dropout)]:
            raise ValueError(f"models[{e}]: dropout rates differ from models[0]")
    for e, c in enumerate(configs):
        if not isinstance(c, TrainConfig):
            raise TypeError(f"configs[{e}]: expected a TrainConfig, got {type(c).__name__}")
        for k in _SHARED:
            if getattr(c, k, None) != getattr(configs[0], k, None):
                raise ValueError(f"configs[{e}]: {k} = {getattr(c, k, None)!r} differs from configs[0] "
                                 f"({getattr(configs[0], k, None)!r}); only the seed may differ")


def _member_data(model, X, y, mask, name: str, task: str):
    """Validated (x, y, mask) of one member, converted as DeepSSM.forward would."""
    _check_data(model, X, y, mask, f"{name} X", f"{name} y", f"{name} mask")
    x, mask = model._check(X, mask)
    y = y.to(x.device)
    if task == "classification":
        if y.dim() != 1 or (y.is_floating_point() and not bool((y == y.round()).all())):
            raise ValueError(f"{name} y: expected integer class labels of shape ({X.shape[0]},), got {tuple(y.shape)}")
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= model.d_output):
            raise ValueError(f"{name} y: class labels must lie in [0, {model.d_output})")
        y = y.long()
    else:
        y = y.to(next(model.parameters()).dtype)
    return x, y, mask


def _stack(datas, idxs):
    """Stack member rows: datas[e][idx_e] for each e (None index: all rows)."""
    if datas[0] is None:
        return None
    return torch.stack([d if i is None else d[i] for d, i in zip(datas, idxs, strict=True)])


def _loss_fn(task):
    def loss(out, y):
        if task == "classification":
            return F.cross_entropy(out, y)
        return F.mse_loss(out, y.reshape(out.shape))
    return loss


def _epochs(config: TrainConfig, n: int) -> int:
    from . import training

    budget = getattr(training, "epoch_budget", None)
    return config.epochs if budget is None else budget(config, n)


def train_ensemble(models: list, data: list, configs: list, val_data: list | None = None) -> list[TrainResult]:
    """Train E DeepSSMs of one architecture together; each ends as ``training.train`` would leave it.

    Args:
        models: E ``DeepSSM`` of identical parameter names/shapes/dtypes, task and dropout rates
            (e.g. one data set's seeds, or inits that share the architecture); trained in place.
        data: E tuples ``(X, y, mask)`` (mask may be None), every X with the same number of rows and
            shape (members draw their own batches, so their batch sizes must agree).
        configs: E ``TrainConfig`` equal in everything but ``seed``.
        val_data: None or E tuples ``(X_val, y_val, mask_val)`` of one common size.

    Returns:
        E ``TrainResult`` (losses, best epoch, steps of each member; seconds = wall time / E).

    Raises:
        ValueError / TypeError: mismatched members or bad data (the message names the member).
        FloatingPointError: a member that had not stopped diverged (its index is named).
    """
    _check_members(models, data, configs, val_data)
    E, cfg0, task = len(models), configs[0], configs[0].task
    mtask = models[0].task
    if (task == "classification") != (mtask == "classification"):
        raise ValueError(f"configs: task {task!r} does not fit models of task {mtask!r}")
    tr = [_member_data(m, *d, f"data[{e}]", task) for e, (m, d) in enumerate(zip(models, data, strict=True))]
    if len({t[0].shape for t in tr}) != 1 or len({None if t[2] is None else t[2].shape for t in tr}) != 1:
        raise ValueError("data: every member needs X (and mask) of one shape")
    va = None
    if val_data is not None:
        va = [_member_data(m, *d, f"val_data[{e}]", task) for e, (m, d) in enumerate(zip(models, val_data,
                                                                                              strict=True))]
        if len({t[0].shape for t in va}) != 1:
            raise ValueError("val_data: every member needs X_val of one shape")
        if va[0][0].shape[0] == 0:
            va = None
    n = tr[0][0].shape[0]
    if n == 0:
        raise ValueError("data: expected at least one training sample")

    feed: list = []
    template = copy.deepcopy(models[0])
    drops = []
    for parent in list(template.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                setattr(parent, name, _FedDropout(child.p, feed))
    wrapped = _Unchecked(template)
    names = [n_ for n_, _ in models[0].named_parameters()]
    params = {f"m.{k}": torch.stack([dict(m.named_parameters())[k].detach() for m in models]).clone()
              .requires_grad_(dict(models[0].named_parameters())[k].requires_grad) for k in names}
    buffers = {f"m.{k}": torch.stack([dict(m.named_buffers())[k] for m in models]) for k, _ in
               models[0].named_buffers()}
    from .layers import param_groups

    name_of = {id(p): k for k, p in models[0].named_parameters()}
    groups = []
    for g in param_groups(models[0], lr=cfg0.lr, weight_decay=cfg0.weight_decay, ssm_lr=cfg0.ssm_lr):
        groups.append({**g, "params": [params[f"m.{name_of[id(p)]}"] for p in g["params"]]})
    opt = torch.optim.AdamW(groups)
    trainable = [p for p in params.values() if p.requires_grad]
    loss_of = _loss_fn(task)

    def member_loss(p, b, x, y, mask, masks):
        feed[:] = list(masks)
        out = torch.func.functional_call(wrapped, (p, b), (x, mask))
        return loss_of(out, y)

    def member_out(p, b, x, mask):
        return torch.func.functional_call(wrapped, (p, b), (x, mask))

    # dropout call signature (order, p, per-sample shape), from one probe forward of member 0
    record = []

    def probe_hook(mod, args, out):
        record.append((mod.p, tuple(args[0].shape[1:])))
    hooks = [d.register_forward_hook(probe_hook) for d in models[0].modules() if type(d) is nn.Dropout]
    was = models[0].training
    models[0].train()
    with torch.no_grad():
        models[0].forward_unchecked(tr[0][0][:1], None if tr[0][2] is None else tr[0][2][:1])
    models[0].train(was)
    for h in hooks:
        h.remove()
    drops = [(p, shape) for p, shape in record if p > 0]

    gens = [torch.Generator().manual_seed(c.seed) for c in configs]
    drop_gens = [torch.Generator().manual_seed(c.seed) for c in configs]
    dtype = tr[0][0].dtype if tr[0][0].is_floating_point() else next(models[0].parameters()).dtype
    res = [TrainResult() for _ in range(E)]
    best = [math.inf] * E
    best_state: list[dict | None] = [None] * E
    bad = [0] * E
    stopped = [False] * E
    vloss = torch.func.vmap(member_loss, in_dims=(0, 0, 0, 0, None if tr[0][2] is None else 0, 0),
                            randomness="error")
    vout = torch.func.vmap(member_out, in_dims=(0, 0, 0, None if va is None or va[0][2] is None else 0),
                           randomness="error")
    t0 = time.perf_counter()
    for epoch in range(_epochs(cfg0, n)):
        if all(stopped):
            break
        template.train()
        tot = [0.0] * E
        batches = [list(_batches(n, cfg0.batch_size, g)) for g in gens]
        for k in range(len(batches[0])):
            idxs = [b[k] for b in batches]
            xb = _stack([t[0] for t in tr], idxs)
            yb = _stack([t[1] for t in tr], idxs)
            mb = _stack([t[2] for t in tr], idxs)
            bsz = xb.shape[1]
            masks = [torch.stack([torch.empty((bsz, *shape), dtype=dtype).bernoulli_(1 - p, generator=g).div_(1 - p)
                                  for g in drop_gens]) for p, shape in drops]
            for p in trainable:
                p.grad = None
            losses = vloss(params, buffers, xb, yb, mb, masks)
            lv = losses.detach().tolist()
            bad_members = [e for e in range(E) if not stopped[e] and not math.isfinite(lv[e])]
            if bad_members:
                raise FloatingPointError(f"training diverged at epoch {epoch}: members {bad_members} have "
                                         f"losses {[lv[e] for e in bad_members]}")
            losses.sum().backward()
            if cfg0.grad_clip:
                _clip_per_member([p for p in trainable if p.grad is not None], cfg0.grad_clip)
            opt.step()
            for e in range(E):
                if not stopped[e]:
                    res[e].steps += 1
                    tot[e] += lv[e] * bsz
        for e in range(E):
            if not stopped[e]:
                res[e].train_loss.append(tot[e] / n)
        if va is None:
            continue
        v = _val_losses(vout, params, buffers, va, template, loss_of)
        for e in range(E):
            if stopped[e]:
                continue
            res[e].val_loss.append(v[e])
            if v[e] < best[e]:
                best[e], bad[e], res[e].best_epoch = v[e], 0, epoch
                best_state[e] = {k: t[e].detach().clone() for k, t in params.items()}
            else:
                bad[e] += 1
                if cfg0.patience is not None and bad[e] >= cfg0.patience:
                    stopped[e] = True
    secs = time.perf_counter() - t0
    with torch.no_grad():
        for e, m in enumerate(models):
            state = best_state[e] if best_state[e] is not None else {k: t[e] for k, t in params.items()}
            for k, p in m.named_parameters():
                p.copy_(state[f"m.{k}"])
            res[e].seconds = secs / E
    return res


@torch.no_grad()
def _val_losses(vout, params, buffers, va, template, loss_of, batch_size: int = 512) -> list[float]:
    """Mean validation loss of every member, in eval mode, accumulated as ``training.evaluate`` does."""
    template.eval()
    n = va[0][0].shape[0]
    E = len(va)
    total = [0.0] * E
    for i in range(0, n, batch_size):
        xb = torch.stack([t[0][i:i + batch_size] for t in va])
        yb = torch.stack([t[1][i:i + batch_size] for t in va])
        mb = None if va[0][2] is None else torch.stack([t[2][i:i + batch_size] for t in va])
        out = vout(params, buffers, xb, mb)
        for e in range(E):
            total[e] += float(loss_of(out[e], yb[e])) * xb.shape[1]
    return [t / n for t in total]


def _clip_per_member(grads_of: list[torch.Tensor], max_norm: float) -> None:
    """clip_grad_norm_ for each member: its total 2-norm over all its gradients, scaled to <= max_norm."""
    norms = torch.stack([p.grad.flatten(1).norm(2, dim=1) for p in grads_of])  # (P, E)
    total = norms.norm(2, dim=0)  # (E,)
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for p in grads_of:
        p.grad.mul_(coef.view(-1, *([1] * (p.grad.dim() - 1))))
