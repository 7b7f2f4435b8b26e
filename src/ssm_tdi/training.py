"""One training loop for every experiment (E2 trainable SSM, E3 deep SSMs).

Full-batch or mini-batch Adam(W) with the SSM learning-rate convention of
:func:`ssm_tdi.layers.param_groups`, a fixed epoch budget, optional early stopping on a
validation split (the best validation state is restored), seeded shuffling, and a
per-step callback for checkpoint studies (persistence of alignment).
Devices: ``"auto"`` picks CUDA when present, else CPU.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

__all__ = ["resolve_device", "TrainConfig", "TrainResult", "train", "evaluate"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available else CPU; otherwise the named device (validated)."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ValueError(f"device: expected 'auto', 'cpu' or 'cuda[:i]', got {device!r}")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} requested but CUDA is not available")
    return torch.device(device)


@dataclass
class TrainConfig:
    task: str = "regression"          # "regression" (MSE) or "classification" (cross-entropy)
    epochs: int = 100
    batch_size: int | None = None     # None: full batch
    lr: float = 1e-2
    ssm_lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int | None = None       # early stopping on validation loss; None: off
    seed: int = 0
    grad_clip: float | None = None

    def __post_init__(self):
        if self.task not in ("regression", "classification"):
            raise ValueError(f"task: expected 'regression' or 'classification', got {self.task!r}")
        if not (isinstance(self.epochs, int) and self.epochs >= 0):
            raise ValueError(f"epochs: expected an integer >= 0, got {self.epochs!r}")
        if self.batch_size is not None and not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise ValueError(f"batch_size: expected None or an integer >= 1, got {self.batch_size!r}")
        for name in ("lr", "ssm_lr"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v > 0 and v < float("inf")):
                raise ValueError(f"{name}: expected a finite value > 0, got {v!r}")


@dataclass
class TrainResult:
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    steps: int = 0


def _loss(task: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if task == "classification":
        return F.cross_entropy(out, y.long())
    return F.mse_loss(out, y.to(out.dtype).reshape(out.shape))


def _batches(n: int, batch_size: int | None, gen: torch.Generator):
    if batch_size is None or batch_size >= n:
        yield None
        return
    perm = torch.randperm(n, generator=gen)
    for i in range(0, n, batch_size):
        yield perm[i:i + batch_size]


def _forward(model, x, mask):
    return model(x) if mask is None else model(x, mask=mask)


@torch.no_grad()
def evaluate(model, X, y, task: str = "regression", mask=None, batch_size: int = 512) -> dict:
    """Mean loss (and accuracy for classification) of ``model`` on (X, y), in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    total, correct, n = 0.0, 0, X.shape[0]
    for i in range(0, n, batch_size):
        xb = X[i:i + batch_size].to(device)
        yb = y[i:i + batch_size].to(device)
        mb = None if mask is None else mask[i:i + batch_size].to(device)
        out = _forward(model, xb, mb)
        total += float(_loss(task, out, yb)) * xb.shape[0]
        if task == "classification":
            correct += int((out.argmax(-1) == yb).sum())
    res = {"loss": total / max(n, 1)}
    if task == "classification":
        res["accuracy"] = correct / max(n, 1)
    return res


def train(model: torch.nn.Module, X, y, config: TrainConfig, X_val=None, y_val=None, mask=None,
          mask_val=None, callback: Callable[[int, torch.nn.Module], None] | None = None) -> TrainResult:
    """Train ``model`` in place on (X, y); returns the loss history.

    ``callback(step, model)`` is called before the first step (step 0) and after every
    optimizer step. With a validation set and ``patience``, training stops after
    ``patience`` epochs without improvement and the best state is restored.
    """
    from .layers import param_groups

    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X, y: expected the same number of samples, got {X.shape[0]} and {y.shape[0]}")
    if X.shape[0] == 0:
        raise ValueError("X: expected at least one training sample")
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.AdamW(param_groups(model, lr=config.lr, weight_decay=config.weight_decay,
                                         ssm_lr=config.ssm_lr))
    res = TrainResult()
    best, best_state, bad = float("inf"), None, 0
    t0 = time.perf_counter()
    if callback is not None:
        callback(0, model)
    for epoch in range(config.epochs):
        model.train()
        tot = 0.0
        for idx in _batches(X.shape[0], config.batch_size, gen):
            if idx is None:  # full batch: no copy
                xb, yb, mb = X.to(device), y.to(device), None if mask is None else mask.to(device)
            else:
                xb, yb = X[idx].to(device), y[idx].to(device)
                mb = None if mask is None else mask[idx].to(device)
            opt.zero_grad(set_to_none=True)
            loss = _loss(config.task, _forward(model, xb, mb), yb)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss became {float(loss)} at epoch {epoch}")
            loss.backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            res.steps += 1
            tot += loss.item() * xb.shape[0]
            if callback is not None:
                callback(res.steps, model)
        res.train_loss.append(tot / X.shape[0])
        if X_val is not None and y_val is not None and len(X_val):
            v = evaluate(model, X_val, y_val, config.task, mask_val)["loss"]
            res.val_loss.append(v)
            if v < best:
                best, bad, res.best_epoch = v, 0, epoch
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
                if config.patience is not None and bad >= config.patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    res.seconds = time.perf_counter() - t0
    return res
