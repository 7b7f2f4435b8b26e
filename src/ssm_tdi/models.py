"""Deep diagonal-SSM network (S4D-style) for the deep-SSM experiments (E3).

Architecture (prenorm residual blocks, as in the S4/S4D reference models):

    x = encoder(input)                          Linear(d_input, d_model) or Embedding(vocab_size, d_model)
    repeat n_layers:
        z = LayerNorm(x)
        z = z * mask                            (padded positions fed to the SSM as zeros)
        z = DiagonalSSM(z)
        z = dropout(GELU(z))
        z = GLU(Linear(d_model, 2 d_model)(z))  (position-wise mixing)
        x = x + dropout(z)
    x = LayerNorm(x)
    classification: pool x over valid positions     -> Linear(d_model, d_output)  -> (batch, d_output)
                    (pool="mean", the default, or "max": per feature, the largest value)
    regression / seq2seq: Linear(d_model, d_output) at every position            -> (batch, L, d_output)

Masks are boolean ``(batch, L)``, True at valid positions. Zeroing the SSM input at padded
positions makes a right-padded sequence give exactly the pooled output of the unpadded one
(the SSM is causal and everything else is position-wise), and, because the SSM is
shift-invariant, a left-padded one too.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import torch
from torch import nn

from ._validate import check_generator, check_int, check_result, check_seed, numeric_tensor
from .layers import DiagonalSSM

__all__ = ["DeepSSM", "SSMBlock"]

_TASKS = ("classification", "regression", "seq2seq")
_POOLS = ("mean", "max")




class SSMBlock(nn.Module):
    """One prenorm residual block: LayerNorm -> DiagonalSSM -> GELU -> dropout -> GLU -> dropout -> +x."""

    def __init__(self, d_model, d_state, dropout, init, discretization, dt_min, dt_max, dtype,
                 generator, init_kwargs):
        super().__init__()
        self.norm = nn.LayerNorm(d_model, dtype=dtype)
        self.ssm = DiagonalSSM(d_model, d_state, init=init, discretization=discretization, dt_min=dt_min,
                               dt_max=dt_max, dtype=dtype, generator=generator, **init_kwargs)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)
        self.mix = nn.Linear(d_model, 2 * d_model, dtype=dtype)
        self.glu = nn.GLU(dim=-1)

    def ssm_input(self, x, mask=None):
        z = self.norm(x)
        if mask is not None:
            z = z * mask.unsqueeze(-1).to(z.dtype)
        return z

    def forward(self, x, mask=None, capture=None):
        z = self.ssm_input(x, mask)
        if capture is not None:
            capture.append(z)
        # the network checks its input and output once (DeepSSM.forward); no per-layer value checks
        z = self.drop(self.act(self.ssm(z, check=False)))
        z = self.drop(self.glu(self.mix(z)))
        return x + z


class DeepSSM(nn.Module):
    """Encoder -> n_layers x SSMBlock -> LayerNorm -> pooling/head.

    Args:
        d_input: input features per position (ignored for token input except as a record).
        d_output: number of classes (classification) or output features per position.
        d_model, d_state, n_layers, dropout: sizes and dropout rate.
        init, discretization, dt_min, dt_max, init_kwargs: passed to every :class:`DiagonalSSM`
            (``init_kwargs``, e.g. ``{"alpha": 4.0}`` for ``freqbias``).
        task: ``"classification"`` (pooled, output (batch, d_output)) or ``"regression"``
            / ``"seq2seq"`` (per position, output (batch, L, d_output)).
        pool: how classification summarizes the positions: ``"mean"`` (default) or ``"max"``
            (per feature, over valid positions; unused by the other tasks).
        vocab_size: if given, the input is integer tokens (batch, L) and the encoder is an
            ``nn.Embedding(vocab_size, d_model)``.
        dtype: torch.float32 (default) or torch.float64.
        seed / generator: all initial weights are a deterministic function of ``seed`` (or of
            one draw from ``generator``); the global RNG state is left untouched. With
            neither, weights come from the global RNG.
    """

    def __init__(self, d_input: int, d_output: int, d_model: int = 64, d_state: int = 64,
                 n_layers: int = 2, dropout: float = 0.0, init: str = "s4d-lin",
                 discretization: str = "zoh", task: str = "classification",
                 vocab_size: int | None = None, dtype=torch.float32, seed: int | None = None,
                 generator: torch.Generator | None = None, dt_min: float = 1e-3, dt_max: float = 1e-1,
                 init_kwargs: dict | None = None, pool: str = "mean"):
        super().__init__()
        for name, v in (("d_input", d_input), ("d_output", d_output), ("d_model", d_model),
                        ("d_state", d_state), ("n_layers", n_layers)):
            check_int(v, name)
        if not isinstance(task, str) or task not in _TASKS:
            raise ValueError(f"task: expected one of {_TASKS}, got {task!r}")
        if not isinstance(pool, str) or pool not in _POOLS:
            raise ValueError(f"pool: expected one of {_POOLS}, got {pool!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a number in [0, 1), got {dropout!r}")
        if vocab_size is not None:
            check_int(vocab_size, "vocab_size")
        if not isinstance(dtype, torch.dtype) or dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype: expected torch.float32 or torch.float64, got {dtype}")
        if seed is not None and generator is not None:
            raise ValueError("seed, generator: give at most one")
        if generator is not None:
            check_generator(generator)
            seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        elif seed is not None:
            seed = check_seed(seed)
        if init_kwargs is not None and not isinstance(init_kwargs, Mapping):
            raise ValueError(f"init_kwargs: expected None or a dict of init options, got {init_kwargs!r}")

        self.d_input, self.d_output, self.d_model = int(d_input), int(d_output), int(d_model)
        self.task, self.vocab_size, self.pool = task, vocab_size, pool
        init_kwargs = dict(init_kwargs or {})

        def build():
            gen = None
            if seed is not None:
                torch.manual_seed(seed)
                gen = torch.Generator().manual_seed(int(seed) + 1)
            if vocab_size is not None:
                self.encoder = nn.Embedding(int(vocab_size), d_model, dtype=dtype)
            else:
                self.encoder = nn.Linear(d_input, d_model, dtype=dtype)
            self.blocks = nn.ModuleList(
                SSMBlock(d_model, d_state, dropout, init, discretization, dt_min, dt_max, dtype, gen,
                         init_kwargs)
                for _ in range(n_layers)
            )
            self.final_norm = nn.LayerNorm(d_model, dtype=dtype)
            self.head = nn.Linear(d_model, d_output, dtype=dtype)

        if seed is not None:
            with torch.random.fork_rng(devices=[]):
                build()
        else:
            build()

    @property
    def ssm_layers(self) -> list[DiagonalSSM]:
        """The DiagonalSSM of every block, in order."""
        return [b.ssm for b in self.blocks]

    # ------------------------------------------------------------------ input handling
    def _param(self):
        return self.head.weight

    def _check(self, x, mask):
        p = self._param()
        if not isinstance(x, torch.Tensor):
            x = numeric_tensor(x, "x")
        if self.vocab_size is not None:
            if x.dim() != 2:
                raise ValueError(f"x: expected integer tokens of shape (batch, L), got {tuple(x.shape)}")
            if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
                raise ValueError(f"x: expected integer token ids, got dtype {x.dtype}")
            if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.vocab_size):
                raise ValueError(f"x: token ids must lie in [0, {self.vocab_size}), "
                                 f"got range [{int(x.min())}, {int(x.max())}]")
            x = x.to(device=p.device, dtype=torch.long)
        else:
            if x.is_complex():
                raise ValueError(f"x: expected real input, got complex dtype {x.dtype}")
            if x.dim() == 2 and self.d_input == 1:
                x = x.unsqueeze(-1)
            if x.dim() != 3 or x.shape[-1] != self.d_input:
                raise ValueError(
                    f"x: expected shape (batch, L, d_input={self.d_input}), got {tuple(x.shape)}")
            x = x.to(device=p.device, dtype=p.dtype)
            if not bool(torch.isfinite(x).all()):
                raise ValueError("x: expected finite values, found NaN or inf")
        if x.shape[1] < 1:
            raise ValueError(f"x: expected a sequence length >= 1, got shape {tuple(x.shape)}")
        if mask is not None:
            mask = numeric_tensor(mask, "mask").to(p.device)
            if mask.dtype != torch.bool:
                raise ValueError(f"mask: expected a boolean tensor (True = valid), got dtype {mask.dtype}")
            if tuple(mask.shape) != tuple(x.shape[:2]):
                raise ValueError(
                    f"mask: expected shape {tuple(x.shape[:2])} (batch, L), got {tuple(mask.shape)}")
            if self.task == "classification" and not bool(mask.any(dim=1).all()):
                raise ValueError("mask: every sequence needs at least one valid position to pool over")
        return x, mask

    def _trunk(self, x, mask, capture=None):
        h = self.encoder(x)
        for block in self.blocks:
            h = block(h, mask, capture)
        return self.final_norm(h)

    # ------------------------------------------------------------------ public
    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (batch, L, d_input) real, or (batch, L) tokens; mask: bool (batch, L), True = valid.

        Returns (batch, d_output) for classification, (batch, L, d_output) otherwise.
        """
        x, mask = self._check(x, mask)
        try:
            out = self.forward_unchecked(x, mask)
        except ValueError as exc:  # a layer saw non-finite activations: the input (or weights) too large
            raise ValueError(f"x: the network's activations are not finite for this input ({exc})") from exc
        return check_result(out, "x", "the network's output for this input")

    def forward_unchecked(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`forward` for an ``x`` and ``mask`` it already validated: no value checks, no syncs.

        Pure tensor code (``torch.func.vmap`` / ``functional_call`` can run it; ``ssm_tdi.ensemble`` does).
        """
        h = self._trunk(x, mask)
        return self.head(self._pool(h, mask) if self.task == "classification" else h)

    def _pool(self, h: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """(batch, L, d_model) -> (batch, d_model): mean or max over the valid positions."""
        if self.pool == "max":
            return h.amax(dim=1) if mask is None else h.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)
        if mask is None:
            return h.mean(dim=1)
        m = mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(dim=1) / m.sum(dim=1)

    @torch.no_grad()
    def layer_inputs(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """For each SSM layer, in order, the (batch, L, d_model) tensor fed into it, in eval mode.

        Runs the trunk once with dropout off (the training flag is restored afterwards);
        the tensors are detached. Used by per-layer TDI to estimate each layer's input spectrum.
        """
        x, mask = self._check(x, mask)
        was_training = self.training
        self.eval()
        try:
            capture: list[torch.Tensor] = []
            self._trunk(x, mask, capture)
        finally:
            self.train(was_training)
        return [c.detach() for c in capture]
