"""The ``ssm-tdi`` command line: estimate a task spectrum, run TDI, export parameters.

    ssm-tdi spectrum DATA [--estimator input|transfer|discriminative] [--out S.npy] [--plot S.png]
    ssm-tdi init DATA --d-model H --d-state N [--method fast|gradient] --out params.pt
    ssm-tdi export params.pt --out s4d.pt

DATA is a .npy file (an array of sequences, (n, L) or (n, L, d)), a .npz file (arrays
under the keys given by --x-key / --y-key / --labels-key; defaults X, y, labels) or a
.csv file (one sequence per row; --label-column picks a column of class labels).
Every output is written to a temporary file next to its destination, and the files are renamed
into place only when the whole command has succeeded: a failed run leaves no partial file and
no subset of its outputs. A user error (bad argument, missing or corrupt file) prints one line
``ssm-tdi COMMAND: error: ...`` on stderr and exits with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

__all__ = ["main", "load_data", "export_s4d"]


class CLIError(Exception):
    """A user error: printed as one line and exit code 2, never a traceback."""


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors become a one-line CLIError (exit code 2) instead of a usage dump."""

    def error(self, message):
        raise CLIError(f"{message} (see {self.prog} --help)")


# Library argument names -> the command-line option that sets them, for error messages.
_FLAGS = {"X": "DATA", "S_task": "DATA (its S_task)", "segments": "--welch", "d_model": "--d-model",
          "d_state": "--d-state", "init": "--base-init", "alpha": "--base-init", "seed": "--seed", "Y": "y"}


def _cli_error(exc: Exception) -> CLIError:
    """A library ValueError as a CLIError whose leading argument names are the CLI's own."""
    msg = str(exc)
    head, sep, rest = msg.partition(": ")
    names = head.split(", ")
    if sep and all(n in _FLAGS for n in names):
        msg = ", ".join(dict.fromkeys(_FLAGS[n] for n in names)) + ": " + rest
    return CLIError(msg)


def load_data(path: Path, x_key: str = "X", y_key: str = "y", labels_key: str = "labels",
              label_column: int | None = None):
    """Read sequences (and optional targets / labels) from .npy, .npz or .csv."""
    path = Path(path)
    if not path.exists():
        raise CLIError(f"DATA: file not found: {path}")
    if not path.is_file():
        raise CLIError(f"DATA: not a regular file: {path}")
    suffix = path.suffix.lower()
    y = labels = None
    try:
        with warnings.catch_warnings():  # e.g. loadtxt's "input contained no data": the checks below say it
            warnings.simplefilter("ignore")
            X, y, labels = _read(path, suffix, x_key, y_key, labels_key, label_column)
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


def _read(path, suffix, x_key, y_key, labels_key, label_column):
    y = labels = None
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
    return X, y, labels


class _Outputs:
    """The files one command writes, committed together.

    Each output is written to a temporary file next to its destination; only when the whole
    command has succeeded are they renamed into place (``os.replace``, atomic per file). On any
    error the temporary files are removed, so a failed run leaves no partial or stale output.
    """

    def __init__(self):
        self.pending: list[tuple[str, Path]] = []

    @staticmethod
    def check(path, option: str, suffixes=None) -> Path:
        """Fail early (before any work) on an output path that cannot be written."""
        path = Path(path)
        if path.is_dir():
            raise CLIError(f"{option}: {path} is a directory; expected a file path")
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise CLIError(f"{option}: {parent} is not a directory, cannot write {path}")
                break
        if suffixes is not None and path.suffix.lower().lstrip(".") not in suffixes:
            raise CLIError(f"{option}: unsupported file type {path.suffix or '(none)'!r} for {path}; "
                           f"expected one of {', '.join('.' + x for x in sorted(suffixes))}")
        return path

    def write(self, path, write, option: str) -> None:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
            os.close(fd)
        except OSError as exc:
            raise CLIError(f"{option}: cannot write {path}: {exc}") from exc
        self.pending.append((tmp, path))
        try:
            write(tmp)
        except (OSError, ValueError) as exc:
            raise CLIError(f"{option}: cannot write {path}: {exc}") from exc

    def commit(self) -> None:
        for tmp, path in self.pending:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise CLIError(f"cannot move the finished output into place at {path}: {exc}") from exc
        self.pending = []

    def discard(self) -> None:
        for tmp, _ in self.pending:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.pending = []


def _plot_types() -> set:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return set(FigureCanvasAgg(Figure()).get_supported_filetypes())


def _estimate(args, X, y, labels) -> torch.Tensor:
    from . import spectra

    Xt = torch.as_tensor(X)
    if args.welch is not None and args.estimator != "input":
        raise CLIError(f"--welch: only for --estimator input, got --estimator {args.estimator}")
    try:
        if args.estimator == "input":
            S = spectra.input_spectrum(Xt, segments=args.welch)
        elif args.estimator == "transfer":
            if y is None:
                raise CLIError("--estimator transfer needs a target: a .npz with an array under --y-key")
            y = np.asarray(y)
            if y.dtype.kind not in "biuf":
                raise CLIError(f"y: expected real numeric targets (--y-key array), got dtype {y.dtype}")
            S = spectra.transfer_spectrum(Xt, torch.as_tensor(y.astype(np.float64)))
        else:
            if labels is None:
                raise CLIError("--estimator discriminative needs class labels: a .npz array under --labels-key "
                               "or a .csv with --label-column")
            S = spectra.discriminative_spectrum(Xt, np.asarray(labels))
    except ValueError as exc:
        raise _cli_error(exc) from exc
    if S.dim() > 1:  # multichannel: one spectrum for all channels
        S = S.mean(0)
    return S


def _plot_spectrum(S: torch.Tensor, path: Path, outputs: _Outputs, extra: dict | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .kernels import rfft_grid

    F = S.shape[-1]
    w = rfft_grid(2 * (F - 1)).numpy() / np.pi
    fig, ax = plt.subplots(figsize=(6, 3.2))
    try:
        ax.semilogy(w, (S / S.sum()).numpy(), label="S_task (normalised)", color="k")
        for name, curve in (extra or {}).items():
            ax.semilogy(w, (curve / curve.sum()).numpy(), label=name, alpha=0.8)
        ax.set_xlabel("frequency w / pi")
        ax.set_ylabel("normalised power")
        ax.legend(fontsize=8)
        fig.tight_layout()
        outputs.write(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip(".").lower(), dpi=120), "--plot")
    finally:
        plt.close(fig)


def _save_npy(array: np.ndarray):
    def write(tmp):
        with open(tmp, "wb") as f:  # a file object: np.save(path) would append ".npy" to the name
            np.save(f, array)

    return write


def cmd_spectrum(args, outputs: _Outputs) -> int:
    out = outputs.check(args.out, "--out")
    plot = outputs.check(args.plot, "--plot", _plot_types()) if args.plot else None
    X, y, labels = load_data(args.data, args.x_key, args.y_key, args.labels_key, args.label_column)
    S = _estimate(args, X, y, labels)
    outputs.write(out, _save_npy(S.numpy()), "--out")
    print(f"S_task ({args.estimator}) on the rfft grid of length {2 * (S.shape[-1] - 1)}: "
          f"{S.shape[-1]} bins, peak at w = {float(torch.argmax(S)) / (S.shape[-1] - 1):.3f} pi -> {out}")
    if plot:
        _plot_spectrum(S, plot, outputs)
        print(f"plot -> {plot}")
    return 0


def _progress_bar(label: str, width: int = 30):
    """A one-line text progress bar on stderr, as a tdi_init callback(step, total, loss)."""

    def show(step: int, total: int, loss: float) -> None:
        done = int(width * step / max(total, 1))
        print(f"\r{label} [{'#' * done}{'.' * (width - done)}] {step}/{total}  L_spec {loss:.3e}",
              end="", file=sys.stderr, flush=True)

    return show


def cmd_init(args, outputs: _Outputs) -> int:
    from ._validate import check_seed
    from .layers import DiagonalSSM
    from .tdi import tdi_init

    out = outputs.check(args.out, "--out")
    export = outputs.check(args.export_s4d, "--export-s4d") if args.export_s4d else None
    plot = outputs.check(args.plot, "--plot", _plot_types()) if args.plot else None
    try:
        check_seed(args.seed)
    except ValueError as exc:
        raise _cli_error(exc) from exc
    X, y, labels = load_data(args.data, args.x_key, args.y_key, args.labels_key, args.label_column)
    S = _estimate(args, X, y, labels)
    if not bool((S > 0).any()):  # checked before any progress output, so the error stays one line
        raise CLIError(f"DATA: its {args.estimator} spectrum S_task is identically zero; TDI has nothing to match")
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
        raise _cli_error(exc) from exc
    state = {"state_dict": layer.state_dict(), "d_model": args.d_model, "d_state": args.d_state,
             "L": 2 * (S.shape[-1] - 1), "S_task": S, "report": report.summary()}
    outputs.write(out, lambda tmp: torch.save(state, tmp), "--out")
    print(f"{report.summary()} -> {out}")
    if export:
        outputs.write(export, lambda tmp: torch.save(export_s4d(layer), tmp), "--export-s4d")
        print(f"S4D-named parameters -> {export}")
    if plot:
        after = layer.power_spectrum(state["L"]).detach()
        _plot_spectrum(S, plot, outputs, {"|H|^2 default (mean over channels)": before.mean(0),
                                          "|H|^2 after TDI (mean over channels)": after.mean(0)})
        print(f"plot -> {plot}")
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


def cmd_export(args, outputs: _Outputs) -> int:
    from .layers import DiagonalSSM

    out = outputs.check(args.out, "--out")
    path = Path(args.params)
    if not path.exists():
        raise CLIError(f"PARAMS: file not found: {path}")
    try:
        # weights_only: a parameter file holds tensors, numbers and a string; never unpickle code
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CLIError(f"PARAMS: not a parameter file written by `ssm-tdi init` (cannot load it: {first})") from exc
    try:
        layer = DiagonalSSM(state["d_model"], state["d_state"], dtype=torch.float64)
        layer.load_state_dict(state["state_dict"])
    except Exception as exc:
        raise CLIError(f"PARAMS: not a parameter file written by `ssm-tdi init`: {exc}") from exc
    params = export_s4d(layer)
    if not all(bool(torch.isfinite(v).all()) for v in params.values()):
        raise CLIError(f"PARAMS: {path} holds non-finite (NaN or inf) parameters")
    outputs.write(out, lambda tmp: torch.save(params, tmp), "--out")
    print(f"S4D-named parameters (log_dt, log_A_real, A_imag, C) -> {out}")
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
    ap = _Parser(prog="ssm-tdi", description=__doc__.split("\n\n")[0],
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
    """Run one command; a user error prints one line on stderr and returns 2 (no output file is left)."""
    outputs = _Outputs()
    command = "ssm-tdi"
    try:
        args = build_parser().parse_args(argv)
        command = f"ssm-tdi {args.command}"
        rc = args.func(args, outputs)
        outputs.commit()
        return rc
    except CLIError as exc:
        print(f"{command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    finally:
        outputs.discard()


if __name__ == "__main__":
    sys.exit(main())
