"""The ``ssm-tdi`` command line: estimate a task spectrum, run TDI, export parameters.

    ssm-tdi spectrum DATA [--estimator input|transfer|discriminative] [--out S.npy] [--plot S.png]
    ssm-tdi init DATA --d-model H --d-state N [--method fast|gradient] --out params.pt
    ssm-tdi export params.pt --out s4d.pt

DATA is a .npy file (an array of sequences, (n, L) or (n, L, d)), a .npz file (arrays
under the keys given by --x-key / --y-key / --labels-key; defaults X, y, labels) or a
.csv file (one sequence per row; --label-column picks a column of class labels).
Every output is written to a temporary file and renamed, so a failed run never leaves a
partial file.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

__all__ = ["main", "load_data", "export_s4d"]


class CLIError(Exception):
    """A user error: printed as one line and exit code 2, never a traceback."""


def load_data(path: Path, x_key: str = "X", y_key: str = "y", labels_key: str = "labels",
              label_column: int | None = None):
    """Read sequences (and optional targets / labels) from .npy, .npz or .csv."""
    path = Path(path)
    if not path.is_file():
        raise CLIError(f"DATA: file not found: {path}")
    suffix = path.suffix.lower()
    y = labels = None
    try:
        if suffix == ".npy":
            X = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if x_key not in z:
                    raise CLIError(f"DATA: {path} has no array {x_key!r} (keys: {', '.join(z.files)}); "
                                   "choose one with --x-key")
                X = z[x_key]
                y = z[y_key] if y_key in z else None
                labels = z[labels_key] if labels_key in z else None
        elif suffix == ".csv":
            M = np.loadtxt(path, delimiter=",", ndmin=2)
            if label_column is not None:
                if not -M.shape[1] <= label_column < M.shape[1]:
                    raise CLIError(f"--label-column: {label_column} is outside the {M.shape[1]} columns of {path}")
                labels = M[:, label_column]
                X = np.delete(M, label_column, axis=1)
            else:
                X = M
        else:
            raise CLIError(f"DATA: expected a .npy, .npz or .csv file, got {path.name}")
    except CLIError:
        raise
    except Exception as exc:  # corrupt or unreadable file
        raise CLIError(f"DATA: could not read {path}: {exc}") from exc
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise CLIError(f"DATA: expected numeric sequences, got dtype {X.dtype}")
    if X.ndim not in (2, 3) or X.shape[0] < 1 or X.shape[1] < 2:
        raise CLIError(f"DATA: expected sequences of shape (n, L) or (n, L, d) with L >= 2, got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise CLIError("DATA: sequences contain NaN or inf")
    return X.astype(np.float64), y, labels


def _atomic(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _estimate(args, X, y, labels) -> torch.Tensor:
    from . import spectra

    Xt = torch.as_tensor(X)
    try:
        if args.estimator == "input":
            S = spectra.input_spectrum(Xt, segments=args.welch)
        elif args.estimator == "transfer":
            if y is None:
                raise CLIError("--estimator transfer needs a target: a .npz with an array under --y-key")
            S = spectra.transfer_spectrum(Xt, torch.as_tensor(np.asarray(y, dtype=np.float64)))
        else:
            if labels is None:
                raise CLIError("--estimator discriminative needs class labels: a .npz array under --labels-key "
                               "or a .csv with --label-column")
            S = spectra.discriminative_spectrum(Xt, torch.as_tensor(np.asarray(labels)))
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    if S.dim() > 1:  # multichannel: one spectrum for all channels
        S = S.mean(0)
    return S


def _plot_spectrum(S: torch.Tensor, path: Path, extra: dict | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .kernels import rfft_grid

    F = S.shape[-1]
    w = rfft_grid(2 * (F - 1)).numpy() / np.pi
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.semilogy(w, (S / S.sum()).numpy(), label="S_task (normalised)", color="k")
    for name, curve in (extra or {}).items():
        ax.semilogy(w, (curve / curve.sum()).numpy(), label=name, alpha=0.8)
    ax.set_xlabel("frequency w / pi")
    ax.set_ylabel("normalised power")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _atomic(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120))
    plt.close(fig)


def cmd_spectrum(args) -> int:
    X, y, labels = load_data(args.data, args.x_key, args.y_key, args.labels_key, args.label_column)
    S = _estimate(args, X, y, labels)
    _atomic(args.out, lambda tmp: np.save(open(tmp, "wb"), S.numpy()))
    print(f"S_task ({args.estimator}) on the rfft grid of length {2 * (S.shape[-1] - 1)}: "
          f"{S.shape[-1]} bins, peak at w = {float(torch.argmax(S)) / (S.shape[-1] - 1):.3f} pi -> {args.out}")
    if args.plot:
        _plot_spectrum(S, args.plot)
        print(f"plot -> {args.plot}")
    return 0


def _progress_bar(label: str, width: int = 30):
    """A one-line text progress bar on stderr, as a tdi_init callback(step, total, loss)."""

    def show(step: int, total: int, loss: float) -> None:
        done = int(width * step / max(total, 1))
        print(f"\r{label} [{'#' * done}{'.' * (width - done)}] {step}/{total}  L_spec {loss:.3e}",
              end="", file=sys.stderr, flush=True)

    return show


def cmd_init(args) -> int:
    from .layers import DiagonalSSM
    from .tdi import tdi_init

    X, y, labels = load_data(args.data, args.x_key, args.y_key, args.labels_key, args.label_column)
    S = _estimate(args, X, y, labels)
    try:
        gen = torch.Generator().manual_seed(args.seed)
        layer = DiagonalSSM(args.d_model, args.d_state, init=args.base_init, dtype=torch.float64, generator=gen)
        before = layer.power_spectrum(2 * (S.shape[-1] - 1)).detach()
        if not args.quiet:
            print(f"running TDI ({args.method}) on H={args.d_model}, N={args.d_state}, L={2 * (S.shape[-1] - 1)} ...",
                  file=sys.stderr, flush=True)
        report = tdi_init(layer, S, method=args.method, seed=args.seed,
                          callback=None if args.quiet else _progress_bar("TDI gradient"))
        if not args.quiet and args.method == "gradient":
            print(file=sys.stderr)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    state = {"state_dict": layer.state_dict(), "d_model": args.d_model, "d_state": args.d_state,
             "L": 2 * (S.shape[-1] - 1), "S_task": S, "report": report.summary()}
    _atomic(args.out, lambda tmp: torch.save(state, tmp))
    print(f"{report.summary()} -> {args.out}")
    if args.export_s4d:
        _atomic(args.export_s4d, lambda tmp: torch.save(export_s4d(layer), tmp))
        print(f"S4D-named parameters -> {args.export_s4d}")
    if args.plot:
        after = layer.power_spectrum(state["L"]).detach()
        _plot_spectrum(S, args.plot, {"|H|^2 default (mean over channels)": before.mean(0),
                                      "|H|^2 after TDI (mean over channels)": after.mean(0)})
        print(f"plot -> {args.plot}")
    return 0


def export_s4d(layer) -> dict:
    """Parameters under the names of the state-spaces S4D kernel (``S4DKernel``).

    That kernel has no B (it is fixed to 1) and stores log_dt ``(H,)``, log_A_real and
    A_imag ``(H, N2)`` and C as real pairs ``(H, N2, 2)``. Our kernel with B is the same
    as theirs with C' = C * B, which is what is exported, so their kernel reproduces ours.
    """
    with torch.no_grad():
        C = layer.C_complex() * layer.B_complex()
        return {
            "log_dt": layer.log_dt.detach().clone(),
            "log_A_real": layer.log_A_real.detach().clone(),
            "A_imag": layer.A_imag.detach().clone(),
            "C": torch.view_as_real(C.detach().clone()),
        }


def cmd_export(args) -> int:
    from .layers import DiagonalSSM

    try:
        state = torch.load(args.params, map_location="cpu", weights_only=False)
        layer = DiagonalSSM(state["d_model"], state["d_state"], dtype=torch.float64)
        layer.load_state_dict(state["state_dict"])
    except FileNotFoundError as exc:
        raise CLIError(f"PARAMS: file not found: {args.params}") from exc
    except Exception as exc:
        raise CLIError(f"PARAMS: not a parameter file written by `ssm-tdi init`: {exc}") from exc
    _atomic(args.out, lambda tmp: torch.save(export_s4d(layer), tmp))
    print(f"S4D-named parameters (log_dt, log_A_real, A_imag, C) -> {args.out}")
    return 0


def _data_args(p):
    p.add_argument("data", type=Path, help="sequences: .npy (n, L[, d]), .npz or .csv (one sequence per row)")
    p.add_argument("--estimator", choices=("input", "transfer", "discriminative"), default="input",
                   help="input: mean periodogram (label-free); transfer: |S_uy|^2/S_uu (needs a target); "
                        "discriminative: between-class / total variance per bin (needs labels)")
    p.add_argument("--welch", type=int, default=None, metavar="SEG",
                   help="input estimator only: Welch segments of this length (default: whole sequences)")
    p.add_argument("--x-key", default="X", help=".npz key of the sequences (default X)")
    p.add_argument("--y-key", default="y", help=".npz key of the targets (default y)")
    p.add_argument("--labels-key", default="labels", help=".npz key of the class labels (default labels)")
    p.add_argument("--label-column", type=int, default=None, help=".csv: column holding class labels")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="ssm-tdi", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("spectrum", help="estimate a task power spectrum S_task from data")
    _data_args(p)
    p.add_argument("--out", type=Path, default=Path("spectrum.npy"), help="where to save S_task (.npy)")
    p.add_argument("--plot", type=Path, default=None, help="also plot it (.png or .pdf)")
    p.set_defaults(func=cmd_spectrum)

    p = sub.add_parser("init", help="run TDI for a layer of the given size on the data and save its parameters")
    _data_args(p)
    p.add_argument("--d-model", type=int, required=True, help="H, the number of channels")
    p.add_argument("--d-state", type=int, default=64, help="N, the state size (even; N/2 complex modes)")
    p.add_argument("--method", choices=("fast", "gradient"), default="fast")
    p.add_argument("--base-init", default="s4d-lin", help="default init the layer starts from")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("tdi_params.pt"), help="parameter file (torch.save)")
    p.add_argument("--export-s4d", type=Path, default=None, help="also write the S4D-named parameters here")
    p.add_argument("--plot", type=Path, default=None, help="plot S_task with |H|^2 before and after")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("export", help="convert a parameter file of `init` to state-spaces S4D names")
    p.add_argument("params", type=Path, help="file written by `ssm-tdi init`")
    p.add_argument("--out", type=Path, default=Path("s4d_params.pt"))
    p.set_defaults(func=cmd_export)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CLIError as exc:
        print(f"ssm-tdi {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
