"""One training loop for every experiment (E2 trainable SSM, E3 deep SSMs).

Full-batch or mini-batch Adam(W) with the SSM learning-rate convention of
:func:`ssm_tdi.layers.param_groups`, a fixed budget (``epochs``, or ``steps``: an optimizer-step
budget independent of the training-set size, see :func:`epoch_budget`), model selection on a
validation split (the best validation state is restored; optional early stopping), seeded
shuffling, and a per-step callback for checkpoint studies (persistence of alignment).
Devices: ``"auto"`` picks CUDA when present, else CPU.
"""

from __future__ import annotations

import copy
import math
import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ._validate import check_int, check_real, check_seed

__all__ = ["resolve_device", "TrainConfig", "TrainResult", "batches_per_epoch", "epoch_budget", "train", "evaluate"]


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
    steps: int | None = None          # optimizer-step budget; overrides ``epochs`` (see epoch_budget)
    min_epochs: int = 1               # floor on the epochs of a ``steps`` budget

    def __post_init__(self):
        if not isinstance(self.task, str) or self.task not in ("regression", "classification"):
            raise ValueError(f"task: expected 'regression' or 'classification', got {self.task!r}")
        check_int(self.epochs, "epochs", 0)
        if self.batch_size is not None:
            check_int(self.batch_size, "batch_size")
        for name in ("lr", "ssm_lr"):
            v = getattr(self, name)
            if isinstance(v, bool) or not (isinstance(v, numbers.Real) and 0 < v < math.inf):
                raise ValueError(f"{name}: expected a finite value > 0, got {v!r}")
        check_real(self.weight_decay, "weight_decay", minimum=0.0)
        if self.patience is not None:
            check_int(self.patience, "patience", 1)
        check_seed(self.seed)
        if self.grad_clip is not None:
            check_real(self.grad_clip, "grad_clip", minimum=0.0, strict_min=True)
        if self.steps is not None:
            check_int(self.steps, "steps", 1)
        check_int(self.min_epochs, "min_epochs", 0)


def batches_per_epoch(n: int, batch_size: int | None) -> int:
    """Optimizer steps in one pass over ``n`` samples: 1 for full batch, else ceil(n / batch_size)."""
    n = check_int(n, "n", 1)
    if batch_size is None or batch_size >= n:
        return 1
    return math.ceil(n / check_int(batch_size, "batch_size"))


def epoch_budget(config: TrainConfig, n: int) -> int:
    """Epochs :func:`train` runs on ``n`` training samples (before any early stop).

    Without ``config.steps``: ``config.epochs``. With it, the budget is counted in optimizer steps, so
    it does not shrink with the training set (an epoch-count budget gives 5 000 samples 100x the steps
    of 50): ``max(min_epochs, ceil(steps / batches_per_epoch(n, batch_size)))`` whole epochs, i.e. at
    least ``steps`` steps, and at least ``min_epochs`` passes over the data when n is large.
    """
    if config.steps is None:
        return config.epochs
    return max(config.min_epochs, math.ceil(config.steps / batches_per_epoch(n, config.batch_size)))


@dataclass
class TrainResult:
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    steps: int = 0


def _loss(task: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if task == "classification":
        if out.dim() != 2:
            raise ValueError(f"y, task: 'classification' needs a model with pooled outputs (batch, classes), "
                             f"got model outputs of shape {tuple(out.shape)}")
        if y.shape != out.shape[:1] or y.is_floating_point() and not bool((y == y.round()).all()):
            raise ValueError(f"y: expected {out.shape[0]} integer class labels, got {y.dtype} {tuple(y.shape)}")
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= out.shape[-1]):
            raise ValueError(f"y: class labels must lie in [0, {out.shape[-1]}), "
                             f"got range [{int(y.min())}, {int(y.max())}]")
        return F.cross_entropy(out, y.long())
    if y.numel() != out.numel():
        raise ValueError(f"y: expected regression targets with {out.numel()} values (model output shape "
                         f"{tuple(out.shape)}), got shape {tuple(y.shape)}")
    return F.mse_loss(out, y.to(out.dtype).reshape(out.shape))


def _check_data(model, X, y, mask, xname: str, yname: str, mname: str) -> None:
    """Tensors with matching sample counts; finite targets (NaN inputs are caught by the model)."""
    for name, t in ((xname, X), (yname, y)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    if X.dim() == 0 or y.dim() == 0 or X.shape[0] != y.shape[0]:
        raise ValueError(f"{xname}, {yname}: expected the same number of samples, got shapes "
                         f"{tuple(X.shape)} and {tuple(y.shape)}")
    if y.is_complex() or X.is_complex():
        raise ValueError(f"{xname}, {yname}: expected real tensors, got {X.dtype} and {y.dtype}")
    if y.is_floating_point() and not bool(torch.isfinite(y).all()):
        raise ValueError(f"{yname}: expected finite values, found NaN or inf")
    if X.is_floating_point() and not bool(torch.isfinite(X).all()):
        raise ValueError(f"{xname}: expected finite values, found NaN or inf")
    if mask is not None and (not isinstance(mask, torch.Tensor) or mask.shape[:1] != X.shape[:1]):
        raise ValueError(f"{mname}: expected a boolean tensor with {X.shape[0]} rows, got {mask!r:.60}")


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
    optimizer step. The budget is :func:`epoch_budget` epochs. With a validation set the state
    of lowest validation loss (evaluated after every epoch) is restored at the end; with
    ``patience`` as well, training stops after ``patience`` epochs without improvement.

    Raises:
        ValueError / TypeError: bad data or config (message names the argument).
        FloatingPointError: training diverged (the loss or the model's activations became NaN or
            inf, e.g. with a learning rate far too large); the model keeps the diverged parameters.
    """
    from .layers import param_groups

    if not isinstance(model, torch.nn.Module) or next(model.parameters(), None) is None:
        raise TypeError(f"model: expected a torch.nn.Module with parameters, got {type(model).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config: expected a TrainConfig, got {type(config).__name__}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback: expected None or a callable(step, model), got {callback!r}")
    _check_data(model, X, y, mask, "X", "y", "mask")
    if X.shape[0] == 0:
        raise ValueError("X: expected at least one training sample")
    if (X_val is None) != (y_val is None):
        raise ValueError("X_val, y_val: give both or neither")
    if X_val is not None:
        _check_data(model, X_val, y_val, mask_val, "X_val", "y_val", "mask_val")
    device = next(model.parameters()).device
    pmax = torch.finfo(next(model.parameters()).dtype).max
    if max(config.lr, config.ssm_lr) > pmax:
        raise ValueError(f"lr, ssm_lr: expected values below the parameters' dtype maximum {pmax:.3g}")
    gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.AdamW(param_groups(model, lr=config.lr, weight_decay=config.weight_decay,
                                         ssm_lr=config.ssm_lr))
    # Dropout draws from the global RNG: fork it and seed it from config.seed, so a run is a
    # function of its arguments alone (not of what the process ran before) and the caller's
    # RNG state is left as it was.
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
        torch.manual_seed(config.seed)
        res = TrainResult()
        best, best_state, bad = float("inf"), None, 0
        t0 = time.perf_counter()
        if callback is not None:
            callback(0, model)
        for epoch in range(epoch_budget(config, int(X.shape[0]))):
            model.train()
            tot = 0.0
            for idx in _batches(X.shape[0], config.batch_size, gen):
                if idx is None:  # full batch: no copy
                    xb, yb, mb = X.to(device), y.to(device), None if mask is None else mask.to(device)
                else:
                    xb, yb = X[idx].to(device), y[idx].to(device)
                    mb = None if mask is None else mask[idx].to(device)
                opt.zero_grad(set_to_none=True)
                try:
                    out = _forward(model, xb, mb)
                except ValueError as exc:
                    # these rows were accepted before the parameters changed (full batch after the first
                    # step, any batch after the first epoch): the failure is divergence, not bad data
                    if res.steps and (idx is None or epoch > 0):
                        raise FloatingPointError(f"training diverged at epoch {epoch}: {exc}") from exc
                    raise
                loss = _loss(config.task, out, yb)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"training loss became {float(loss.detach())} at epoch {epoch}")
                loss.backward()
                if config.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                try:
                    opt.step()
                except RuntimeError as exc:  # e.g. lr * update overflows the parameters' dtype
                    raise FloatingPointError(
                        f"training diverged at epoch {epoch} (optimizer step failed: {exc})") from exc
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
