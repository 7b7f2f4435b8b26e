"""Self-supervised pretraining of a DeepSSM trunk: the compute-matched baseline for TDI.

The question this baseline answers: does TDI beat simply spending a few epochs of the
training budget on self-supervised learning from the same training inputs? :func:`pretrain`
trains the encoder, the SSM blocks and the final LayerNorm in place, through a temporary
per-position linear probe on the trunk output that is thrown away afterwards; the model's own
head is never touched (it is not in the optimizer and not in the forward pass). Labels are
never used, only the training inputs ``X`` (and their mask).

Objectives (the DeepSSM is causal: the SSM is a causal convolution, everything else acts
position by position, so the trunk output at t sees inputs 0..t only):

* ``"next-step"``: from the output at t predict the input at t+1, over pairs where t and
  t+1 are both valid. Real input: MSE over all ``d_input`` channels; tokens: cross-entropy.
* ``"masked"``: hide ``round(mask_fraction * n_valid)`` (>= 1) randomly chosen valid
  positions of each batch and predict their original values there. Real input: the input
  vector is replaced by zeros (MSE). Tokens: no id is reserved for a mask token (the vocab
  belongs to the task); the embedding vector at a hidden position is replaced by zeros
  instead (cross-entropy). Because the model is causal, this amounts to predicting x[t] from
  a partially hidden past, a noisier cousin of next-step.

Padded positions (mask False) never enter a loss: they are never targets, never sources of
a pair, and never chosen to be hidden; the model itself zeroes them at every SSM input.

Compute-matching rule (issue 5): pretraining epochs + fine-tuning epochs = the epoch budget
every other init gets, with the same batch size on the same training subset
(:func:`pretrain_budget` splits it). One pretraining epoch costs about one training epoch
(same trunk forward and backward plus a small per-position probe; measured 1.1-1.3x on CPU),
so the rule, if anything, favours this baseline. TDI's own overhead (< 1 s) is not charged
to any epoch budget and is reported separately.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .layers import param_groups
from .models import DeepSSM
from .training import _batches

__all__ = ["OBJECTIVES", "PretrainResult", "pretrain", "pretrain_budget"]

OBJECTIVES = ("next-step", "masked")


@dataclass
class PretrainResult:
    loss: list[float] = field(default_factory=list)  # mean loss per epoch (per target, weighted over batches)
    steps: int = 0
    seconds: float = 0.0


def pretrain_budget(total_epochs: int, fraction: float = 0.25) -> tuple[int, int]:
    """Split an epoch budget into (pretrain_epochs, finetune_epochs) that sum to ``total_epochs``.

    pretrain_epochs = round(fraction * total_epochs) (halves up), clamped so that both parts
    are >= 1 when ``total_epochs >= 2``; a budget of 1 epoch gives (0, 1).
    """
    if isinstance(total_epochs, bool) or not isinstance(total_epochs, numbers.Integral) or total_epochs < 1:
        raise ValueError(f"total_epochs: expected an integer >= 1, got {total_epochs!r}")
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
        raise ValueError(f"fraction: expected a number in (0, 1), got {fraction!r}")
    total = int(total_epochs)
    if total == 1:
        return 0, 1
    pre = min(max(int(math.floor(fraction * total + 0.5)), 1), total - 1)
    return pre, total - pre


def _check_args(model, epochs, objective, lr, ssm_lr, batch_size, weight_decay, seed, grad_clip, mask_fraction):
    if not isinstance(model, DeepSSM):
        raise TypeError(f"model: expected a DeepSSM, got {type(model).__name__}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective: expected one of {OBJECTIVES}, got {objective!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 0:
        raise ValueError(f"epochs: expected an integer >= 0, got {epochs!r}")
    for name, v in (("lr", lr), ("ssm_lr", ssm_lr)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 < v < math.inf:
            raise ValueError(f"{name}: expected a finite number > 0, got {v!r}")
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, numbers.Real) \
            or not 0 <= weight_decay < math.inf:
        raise ValueError(f"weight_decay: expected a finite number >= 0, got {weight_decay!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                                   or batch_size < 1):
        raise ValueError(f"batch_size: expected None or an integer >= 1, got {batch_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed: expected an integer, got {seed!r}")
    if grad_clip is not None and (isinstance(grad_clip, bool) or not isinstance(grad_clip, numbers.Real)
                                  or not 0 < grad_clip < math.inf):
        raise ValueError(f"grad_clip: expected None or a finite number > 0, got {grad_clip!r}")
    if isinstance(mask_fraction, bool) or not isinstance(mask_fraction, numbers.Real) or not 0 < mask_fraction < 1:
        raise ValueError(f"mask_fraction: expected a number in (0, 1), got {mask_fraction!r}")


def _hide(valid: torch.Tensor, fraction: float, gen: torch.Generator) -> torch.Tensor:
    """Boolean (batch, L): round(fraction * n_valid) (>= 1) valid positions chosen at random."""
    flat = valid.reshape(-1).nonzero().squeeze(-1)
    k = max(1, int(math.floor(fraction * flat.numel() + 0.5)))
    pick = flat[torch.randperm(flat.numel(), generator=gen)[:k].to(flat.device)]
    hidden = torch.zeros(valid.numel(), dtype=torch.bool, device=valid.device)
    hidden[pick] = True
    return hidden.reshape(valid.shape)


def _batch_loss(model, probe, x, mask, objective, fraction, gen):
    """(mean loss over the batch's targets, number of targets); (None, 0) when it has none."""
    tokens = model.vocab_size is not None
    valid = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if mask is None else mask
    if objective == "next-step":
        pair = valid[:, :-1] & valid[:, 1:]
        n = int(pair.sum())
        if n == 0:
            return None, 0
        out = probe(model._trunk(x, mask)[:, :-1][pair])
        target = x[:, 1:][pair]
    else:
        hidden = _hide(valid, fraction, gen)
        n = int(hidden.sum())
        if tokens:  # zero the embedding vector at hidden positions (no spare token id)
            keep = (~hidden).unsqueeze(-1)
            handle = model.encoder.register_forward_hook(lambda mod, inp, out: out * keep.to(out.dtype))
            try:
                h = model._trunk(x, mask)
            finally:
                handle.remove()
        else:
            h = model._trunk(x.masked_fill(hidden.unsqueeze(-1), 0.0), mask)
        out = probe(h[hidden])
        target = x[hidden]
    loss = F.cross_entropy(out, target) if tokens else F.mse_loss(out, target)
    return loss, n


def pretrain(model: DeepSSM, X, mask=None, *, epochs: int, objective: str = "next-step", lr: float = 1e-2,
             ssm_lr: float = 1e-3, batch_size: int | None = None, weight_decay: float = 0.0, seed: int = 0,
             grad_clip: float | None = None, mask_fraction: float = 0.15) -> PretrainResult:
    """Self-supervised training of ``model``'s encoder, SSM blocks and final norm, in place.

    Args:
        model: a :class:`DeepSSM` (any task); its ``head`` is left exactly as it was.
        X: training inputs, (batch, L, d_input) real or (batch, L) tokens; L >= 2 for next-step.
        mask: optional bool (batch, L), True = valid.
        epochs: passes over ``X`` (0: nothing is trained).
        objective: ``"next-step"`` or ``"masked"`` (see the module docstring).
        lr, ssm_lr, weight_decay, batch_size, grad_clip: as in :class:`ssm_tdi.training.TrainConfig`;
            the SSM dynamics (``param_groups``) get ``ssm_lr`` and no weight decay.
        seed: seeds the probe's init, the batch order, the hidden positions and dropout; the
            global RNG state is restored afterwards.
        mask_fraction: share of valid positions hidden per batch for ``"masked"``.

    ``X`` and ``mask`` are validated by the model and moved to its device. Returns a
    :class:`PretrainResult`. Raises FloatingPointError (naming the epoch) if the loss or a value
    inside the model becomes non-finite; the model then keeps the parameters of the last step.
    """
    _check_args(model, epochs, objective, lr, ssm_lr, batch_size, weight_decay, seed, grad_clip, mask_fraction)
    try:
        X, mask = model._check(X, mask)
    except ValueError as exc:  # the model calls its input "x"; here it is "X"
        msg = str(exc)
        raise ValueError("X:" + msg[2:] if msg.startswith("x:") else msg) from None
    tokens = model.vocab_size is not None
    valid = torch.ones(X.shape[:2], dtype=torch.bool, device=X.device) if mask is None else mask
    if objective == "next-step":
        if X.shape[1] < 2:
            raise ValueError(f"X: next-step prediction needs sequences of length >= 2, got shape {tuple(X.shape)}")
        if not bool((valid[:, :-1] & valid[:, 1:]).any()):
            raise ValueError("mask: no two consecutive valid positions, nothing to predict")
    elif not bool(valid.any()):
        raise ValueError("mask: no valid position, nothing to predict")

    device, dtype = model.head.weight.device, model.head.weight.dtype
    devices = [device] if device.type == "cuda" else []
    res = PretrainResult()
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))  # probe init and dropout
        probe = nn.Linear(model.d_model, model.vocab_size if tokens else model.d_input, device=device, dtype=dtype)
        trained = nn.ModuleDict({"encoder": model.encoder, "blocks": model.blocks, "final_norm": model.final_norm,
                                 "probe": probe})
        params = [p for p in trained.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(param_groups(trained, lr=float(lr), weight_decay=float(weight_decay),
                                             ssm_lr=float(ssm_lr)))
        order_gen = torch.Generator().manual_seed(int(seed))
        hide_gen = torch.Generator().manual_seed(int(seed) + 1)
        was_training = model.training
        model.train()
        try:
            for epoch in range(int(epochs)):
                total, count = 0.0, 0
                for idx in _batches(X.shape[0], batch_size, order_gen):
                    if idx is None:
                        xb, mb = X, mask
                    else:
                        idx = idx.to(device)
                        xb, mb = X[idx], None if mask is None else mask[idx]
                    try:
                        loss, n = _batch_loss(model, probe, xb, mb, objective, float(mask_fraction), hide_gen)
                    except ValueError as exc:  # the input was validated: a non-finite value inside the model
                        if "finite" not in str(exc):
                            raise
                        raise FloatingPointError(f"pretraining diverged at epoch {epoch}: {exc}") from exc
                    if n == 0:  # a mini-batch without targets: no step
                        continue
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"pretraining loss became {float(loss.detach())} at epoch {epoch}")
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    if grad_clip is not None:
                        torch.nn.utils.clip_grad_norm_(params, float(grad_clip))
                    opt.step()
                    res.steps += 1
                    total += float(loss.detach()) * n
                    count += n
                res.loss.append(total / count)
        finally:
            model.train(was_training)
    res.seconds = time.perf_counter() - t0
    return res
