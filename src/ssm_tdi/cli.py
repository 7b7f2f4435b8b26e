"""The ``ssm-tdi`` command line: estimate a task spectrum, run TDI, export parameters.

    ssm-tdi spectrum DATA [--estimator input|transfer|discriminative] [--out S.npz] [--plot S.png]
    ssm-tdi init DATA --d-model H [--d-state N] [--method fast|gradient] [--out params.pt]
    ssm-tdi export params.pt [--out s4d.pt]

DATA is a .npy file (an array of sequences, (n, L) or (n, L, d)), a .npz file (arrays under the
keys given by --x-key / --y-key / --labels-key) or a .csv file (one sequence per row, an optional
header row; --label-column picks the column of class labels by index or header name; text labels
are numbered in sorted order and the numbering is saved next to the output as NAME.labels.json).
The sequence length L of the data (odd or even) is carried into every computation and every file.

Outputs. Each output is checked before any work (a regular file or a new path, no two outputs on one
path, never an input file, an extension that matches the format written), written to a hidden
temporary file next to its destination and fsync-ed, and all of a command's outputs are renamed into
place together only when the whole command has succeeded: a failed run (full disk included) leaves
no partial file and no subset of its outputs. Outputs are byte-identical across runs of one command.

Errors. A user error (bad argument, missing or corrupt file, a job larger than the memory budget)
prints one line ``ssm-tdi COMMAND: error: ...`` on stderr and exits with code 2, never a traceback;
warnings are one line each, ``ssm-tdi COMMAND: warning: ...``.

Memory. Before loading or allocating, the peak memory is estimated (``_spectrum_bytes``, ``_tdi_bytes``) and the command
refuses a job above the budget: available memory, or ``SSM_TDI_MAX_MEMORY`` (e.g. ``2G``).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import warnings
from pathlib import Path

from . import __version__

__all__ = ["main", "load_data", "export_s4d", "build_parser"]

_BASE_INITS = ("s4d-lin", "s4d-inv", "s4d-legs", "freqbias", "random")  # ssm_tdi.inits.INITS (tested)

INIT_SUMMARY_HELP = """\
The summary line of init, e.g.
  TDI[fast] H=8 N2=32 L=256: L_spec 1.911e+00 -> 1.117e-06 in 1.809s, max|lam|=0.998049, aliased=0,
  reverted=0, kernel |cos|=0.562, effective rank 7.06 -> 2.76, residue ratio med/max=1.78/16
  H, N2, L        channels, complex modes per channel (d_state / 2), sequence length of the data
  L_spec a -> b   spectral matching loss (mean over channels) before and after TDI: 0 is a perfect
                  match of |H|^2 to S_task up to scale, 2 the worst possible
  max|lam|        largest discrete pole modulus after TDI (< 1: stable; near 1: long memory)
  aliased         modes whose frequency dt*|Im a| exceeds pi (they fold onto lower frequencies)
  reverted        channels put back to their initial parameters because TDI did not improve them
  kernel |cos|    mean |cosine similarity| between the kernels of distinct channels: 1 = all
                  channels the same kernel, lower = more diverse (phase rotations keep |H|^2)
  effective rank  of the H x L kernel matrix, before -> after (exp of the entropy of its normalised
                  singular values): 1 = one response for all channels; --bank bands raises it
  residue ratio   sum of |mode residues| / kernel norm per channel, median and max: ~1 modes
                  add up; >> 1 large modes cancel (fragile in float32 and under training)"""


class CLIError(Exception):
    """A user error: printed as one line and exit code 2, never a traceback."""


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors become a one-line CLIError (exit code 2) instead of a usage dump."""

    def error(self, message):
        raise CLIError(f"{message} (see {self.prog} --help)")


class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Every optional option's help ends with its default; descriptions and epilogs keep their line breaks."""

    def _get_help_string(self, action):
        if action.required or isinstance(action, (argparse._StoreTrueAction, argparse._VersionAction,
                                                  argparse._HelpAction)):
            return action.help
        return super()._get_help_string(action)


# Library argument names -> the command-line option that sets them, for error messages.
_FLAGS = {"X": "DATA", "S_task": "DATA (its S_task)", "segments": "--welch", "d_model": "--d-model",
          "d_state": "--d-state", "init": "--base-init", "alpha": "--alpha", "seed": "--seed", "Y": "y",
          "labels": "labels", "grid_L": "DATA", "gamma": "--gamma", "flat_mix": "--flat-mix",
          "target_floor": "--target-floor", "bank": "--bank", "default_fraction": "--default-fraction",
          "dt_mode": "--dt-mode", "kind": "--discriminative-kind"}


def _cli_error(exc: Exception) -> CLIError:
    """A library ValueError as a CLIError whose leading argument names are the CLI's own."""
    msg = str(exc)
    head, sep, rest = msg.partition(": ")
    names = head.split(", ")
    if sep and all(n in _FLAGS for n in names):
        msg = ", ".join(dict.fromkeys(_FLAGS[n] for n in names)) + ": " + rest
    return CLIError(msg)


def _say(*parts, file=None) -> None:
    """print() that survives a closed pipe (``ssm-tdi ... | head -0``): later output goes to /dev/null."""
    stream = file or sys.stdout
    try:
        print(*parts, file=stream, flush=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


# ----------------------------------------------------------------------------- data
def load_data(path, x_key="X", y_key="y", labels_key="labels", label_column=None):
    """(X float64, y, labels) read from .npy, .npz or .csv; see :mod:`ssm_tdi._cli_data`."""
    d = _load(path, x_key, y_key, labels_key, None if label_column is None else str(label_column))
    return d.X, d.y, d.labels


def _load(path, x_key, y_key, labels_key, label_column):
    from ._cli_data import load_data as read

    try:
        return read(path, x_key, y_key, labels_key, label_column)
    except ValueError as exc:  # DataError and MemoryBudgetError name the argument already
        raise CLIError(str(exc)) from exc


# ----------------------------------------------------------------------------- outputs
_NUMPY, _TORCH, _PLOT, _JSON = "NumPy", "torch.save", "image", "JSON"
_FORMAT_OF = {".npy": _NUMPY, ".npz": _NUMPY, ".pt": _TORCH, ".pth": _TORCH, ".ckpt": _TORCH, ".pkl": "pickle",
              ".pickle": "pickle", ".json": _JSON, ".csv": "CSV", ".txt": "text", ".tsv": "text", ".h5": "HDF5",
              ".hdf5": "HDF5", ".mat": "MATLAB", ".safetensors": "safetensors", ".png": _PLOT, ".pdf": _PLOT,
              ".svg": _PLOT, ".jpg": _PLOT, ".jpeg": _PLOT, ".eps": _PLOT, ".ps": _PLOT, ".tif": _PLOT,
              ".tiff": _PLOT, ".webp": _PLOT}


class _Outputs:
    """The files one command writes: planned (checked) before any work, staged, then committed together."""

    def __init__(self):
        from ._io import OutputSet

        self.files = OutputSet()
        self.planned: dict[str, Path] = {}  # option -> destination
        self.inputs: dict[str, Path] = {}  # argument -> input file

    def input(self, path, name: str) -> None:
        self.inputs[name] = Path(path)

    def plan(self, path, option: str, fmt: str) -> Path:
        """Check an output path before any work; ``fmt`` is the format this option writes."""
        from ._io import OutputPathError, check_output_path

        try:
            target = check_output_path(path)
        except OutputPathError as exc:
            raise CLIError(f"{option}: {exc}") from exc
        suffix = Path(path).suffix.lower()
        if fmt == _PLOT:
            types = _plot_types()
            if suffix.lstrip(".") not in types:
                raise CLIError(f"{option}: unsupported image type {suffix or '(none)'!r} for {path}; expected one of "
                               f"{', '.join('.' + t for t in sorted(types))}")
        elif _FORMAT_OF.get(suffix, fmt) != fmt:
            raise CLIError(f"{option}: {path} has the extension of a {_FORMAT_OF[suffix]} file, but this option "
                           f"writes {fmt} ({_EXTENSIONS[fmt]}); change the extension")
        for other, p in self.planned.items():
            if _same_file(p, target):
                raise CLIError(f"{option}: {path} is also the {other} output; each output needs its own path")
        for name, p in self.inputs.items():
            if _same_file(p, target):
                raise CLIError(f"{option}: {path} is the input {name}; writing it would destroy the input")
        self.planned[option] = target
        return target

    def write(self, path: Path, data: bytes, option: str) -> None:
        try:
            self.files.stage(path, data)
        except OSError as exc:
            raise CLIError(f"{option}: cannot write {path}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise CLIError(f"{option}: {exc}") from exc

    def commit(self) -> None:
        try:
            self.files.commit()
        except OSError as exc:
            raise CLIError(f"cannot move the finished outputs into place ({exc.filename or ''}: "
                           f"{exc.strerror or exc}); no output was changed") from exc
        except ValueError as exc:
            raise CLIError(f"{exc}; no output was changed") from exc

    def discard(self) -> None:
        self.files.discard()


_EXTENSIONS = {_NUMPY: ".npz or .npy", _TORCH: ".pt", _JSON: ".json"}


def _same_file(a: Path, b: Path) -> bool:
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.abspath(os.path.realpath(a)) == os.path.abspath(os.path.realpath(b))


def _plot_types() -> set:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return set(FigureCanvasAgg(Figure()).get_supported_filetypes())


def _npy_bytes(array) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def _npz_bytes(**arrays) -> bytes:
    """An uncompressed .npz (as np.savez writes it) with fixed member dates, so that runs are byte-identical."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, value in arrays.items():
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), _npy_bytes(value))
    return buf.getvalue()


def _torch_bytes(obj) -> bytes:
    """torch.save into memory: the archive name is the constant "archive", not a temporary file name."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _json_bytes(obj) -> bytes:
    import json

    return (json.dumps(obj, indent=1) + "\n").encode()


def _labels_sidecar(out: Path) -> Path:
    return out.with_name(out.stem + ".labels.json")


def _plan_label_map(data, args, outputs: _Outputs, out: Path):
    """Where the numbering of text labels goes (only when the estimator uses them)."""
    if data.label_names is None or args.estimator != "discriminative":
        return None
    return outputs.plan(_labels_sidecar(out), "--out (label numbering)", _JSON)


# ----------------------------------------------------------------------------- memory
_MB = 2**20


def _spectrum_bytes(shape, estimator: str) -> int:
    """Peak of a spectrum estimate on float64 data (n, L[, d]): the data, its centred copy, the rfft
    (complex, L/2+1 bins) and the periodogram: <= 4 data-sized arrays (6 with a transfer target)."""
    n, L, d = (tuple(shape) + (1,))[:3]
    return (6 if estimator == "transfer" else 4) * n * L * d * 8


def _tdi_bytes(H: int, N2: int, L: int, method: str, bank: str = "identical") -> int:
    """Peak of DiagonalSSM(H, 2 N2) + TDI at length L, an upper bound measured on this code (float64,
    max RSS of tdi_init minus the interpreter's): ~24 kB per step for the solver's per-row work,
    128 B (fast) or 384 B (gradient, whose autograd keeps the complex responses, and --bank bands) per
    step and mode for each row fitted at once (<= 8 phase variants; every channel with --bank bands),
    three complex (H, N2, L) temporaries of the layer's kernel and response, the (H, H) cosine matrix,
    and 100 MiB of fixed overhead.
    Measured fast peaks (H, N2, L -> MiB): (1, 32, 1024) 70, (8, 32, 4096) 210, (1, 32, 16384) 330,
    (8, 8, 16384) 335, (8, 32, 16384) 605, (8, 64, 4096) 337, (1, 32, 65536) 1104; this bound gives
    129, 370, 563, 651, 1179, 546, 1952 (1.6x to 2x the measured peaks). Gradient: (8, 32, 4096) 489,
    (64, 32, 4096) 160; bound 626, 962. Fast with --bank bands: (64, 32, 4096) 2926; bound 3650."""
    rows = H if bank == "bands" else min(H, 8)
    per_mode = 128 if method == "fast" and bank != "bands" else 384
    return L * (24_000 + per_mode * rows * N2) + 48 * H * N2 * L + 8 * H * H + 100 * _MB


def _require(nbytes: int, what: str) -> None:
    from ._memory import require

    try:
        require(nbytes, what)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc


# ----------------------------------------------------------------------------- spectrum
def _estimate(args, data):
    import numpy as np
    import torch

    from . import spectra

    Xt = torch.as_tensor(data.X)
    if args.welch is not None and args.estimator != "input":
        raise CLIError(f"--welch: only for --estimator input, got --estimator {args.estimator}")
    if args.discriminative_kind is not None and args.estimator != "discriminative":
        raise CLIError(f"--discriminative-kind: only for --estimator discriminative, got --estimator {args.estimator}")
    grid = data.L if args.welch is not None else None  # Welch segments: back onto the data's length-L grid
    try:
        if args.estimator == "input":
            S = spectra.input_spectrum(Xt, segments=args.welch, grid_L=grid)
        elif args.estimator == "transfer":
            if data.y is None:
                raise CLIError("--estimator transfer needs a target: a .npz with an array under --y-key")
            y = np.asarray(data.y)
            if y.dtype.kind not in "biuf":
                raise CLIError(f"y: expected real numeric targets (--y-key array), got dtype {y.dtype}")
            S = spectra.transfer_spectrum(Xt, torch.as_tensor(y.astype(np.float64)))
        else:
            if data.labels is None:
                raise CLIError("--estimator discriminative needs class labels: a .npz array under --labels-key "
                               "or a .csv with --label-column")
            S = spectra.discriminative_spectrum(Xt, np.asarray(data.labels), kind=discriminative_kind(args))
    except ValueError as exc:
        raise _cli_error(exc) from exc
    if S.dim() > 1:  # multichannel: one spectrum for all channels
        S = S.mean(0)
    if S.shape[-1] != data.L // 2 + 1:  # the library's grid must be the data's
        raise AssertionError(f"spectrum of {S.shape[-1]} bins for L={data.L}")
    return S


def _grid_over_pi(L: int):
    import numpy as np

    return 2.0 * np.arange(L // 2 + 1) / L  # w_j / pi on the rfft grid w_j = 2 pi j / L


def _plot_bytes(S, L: int, fmt: str, extra: dict | None = None) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    w = _grid_over_pi(L)
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    ax.semilogy(w, (S / S.sum()).numpy(), label="S_task (normalised)", color="k")
    for name, curve in (extra or {}).items():
        ax.semilogy(w, (curve / curve.sum()).numpy(), label=name, alpha=0.8)
    ax.set_xlabel(f"frequency w / pi (rfft grid of L = {L})")
    ax.set_ylabel("normalised power")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    dates = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}.get(fmt)  # byte-identical reruns
    fig.savefig(buf, format=fmt, dpi=120, metadata=dates)
    return buf.getvalue()


def _peak(S, L: int) -> float:
    import torch

    return 2.0 * float(torch.argmax(S)) / L


def cmd_spectrum(args, outputs: _Outputs) -> int:
    outputs.input(args.data, "DATA")
    out = outputs.plan(args.out, "--out", _NUMPY)
    plot = outputs.plan(args.plot, "--plot", _PLOT) if args.plot else None
    data = _load(args.data, args.x_key, args.y_key, args.labels_key, args.label_column)
    L = data.L
    archive = out.suffix.lower() == ".npz"
    if not archive and L % 2:
        raise CLIError(f"--out: a .npy file holds S_task only, and its length would be read back as L = 2(F-1) = "
                       f"{L - 1}, but the data have L = {L}; write a .npz (S and L) instead")
    label_map = _plan_label_map(data, args, outputs, out)
    _require(_spectrum_bytes(data.X.shape, args.estimator), f"DATA: a spectrum of {data.X.shape} sequences")
    S = _estimate(args, data)
    if archive:
        extra = {"label_names": data.label_names} if label_map else {}
        payload = _npz_bytes(S=S.numpy(), L=L, omega=_grid_over_pi(L) * 3.141592653589793,
                             estimator=args.estimator, **extra)
    else:
        payload = _npy_bytes(S.numpy())
    outputs.write(out, payload, "--out")
    what = "S and L" if archive else "S only"
    _say(f"S_task ({args.estimator}) of {data.X.shape[0]} sequences of length L={L}: {S.shape[-1]} bins, "
         f"peak at w = {_peak(S, L):.4f} pi -> {out} (NumPy {'.npz' if archive else '.npy'}: {what})")
    if label_map:
        outputs.write(label_map, _json_bytes(dict(enumerate(data.label_names))), "--out (label numbering)")
        _say(f"label numbering (class index -> label) -> {label_map}")
    if plot:
        outputs.write(plot, _plot_bytes(S, L, plot.suffix.lstrip(".").lower()), "--plot")
        _say(f"plot -> {plot}")
    return 0


# ----------------------------------------------------------------------------- init
def _progress(label: str, stream=None, width: int = 30):
    """A tdi_init callback(step, total, loss): a redrawn bar on a terminal, else ~10 plain lines."""
    stream = stream or sys.stderr
    tty = stream.isatty()
    last = [-1]

    def show(step: int, total: int, loss: float) -> None:
        if tty:
            done = int(width * step / max(total, 1))
            print(f"\r{label} [{'#' * done}{'.' * (width - done)}] {step}/{total}  L_spec {loss:.3e}",
                  end="" if step < total else "\n", file=stream, flush=True)
        else:
            tenth = 10 * step // max(total, 1)
            if tenth > last[0]:
                last[0] = tenth
                _say(f"{label}: step {step}/{total}, L_spec {loss:.3e}", file=stream)

    return show


def _layer_kwargs(args) -> dict:
    if args.alpha is not None and args.base_init != "freqbias":
        raise CLIError(f"--alpha: only for --base-init freqbias, got --base-init {args.base_init}")
    if args.base_init == "freqbias":
        if args.alpha is None:
            raise CLIError("--base-init, --alpha: freqbias needs --alpha (A_n = -1/2 + i alpha pi n; alpha = 1 is "
                           "S4D-Lin; Yu et al. tune it per task, the study uses 4)")
        return {"alpha": args.alpha}
    return {}


def cmd_init(args, outputs: _Outputs) -> int:
    outputs.input(args.data, "DATA")
    out = outputs.plan(args.out, "--out", _TORCH)
    export = outputs.plan(args.export_s4d, "--export-s4d", _TORCH) if args.export_s4d else None
    plot = outputs.plan(args.plot, "--plot", _PLOT) if args.plot else None
    layer_kw = _layer_kwargs(args)
    from ._validate import check_int, check_seed

    try:
        check_seed(args.seed)
        check_int(args.d_model, "d_model")
        check_int(args.d_state, "d_state")
    except ValueError as exc:
        raise _cli_error(exc) from exc
    data = _load(args.data, args.x_key, args.y_key, args.labels_key, args.label_column)
    L, H, N2 = data.L, args.d_model, args.d_state // 2
    label_map = _plan_label_map(data, args, outputs, out)
    tdi_bytes = _tdi_bytes(H, max(N2, 1), L, args.method, getattr(args, "bank", "identical"))
    _require(_spectrum_bytes(data.X.shape, args.estimator) + tdi_bytes,
             f"--d-model, --d-state, DATA: TDI for H={H}, N={args.d_state} at L={L}")
    S = _estimate(args, data)
    if not bool((S > 0).any()):  # checked before any progress output, so the error stays one line
        raise CLIError(f"DATA: its {args.estimator} spectrum S_task is identically zero; TDI has nothing to match")
    layer, report, before = _run_tdi(args, S, L, layer_kw)
    # no wall time in the file: the same command writes the same bytes
    summary = report.summary().replace(f" in {report.seconds:.3f}s", "")
    state = {"state_dict": layer.state_dict(), "d_model": H, "d_state": args.d_state, "L": L, "S_task": S,
             "estimator": args.estimator, "base_init": args.base_init, "report": summary}
    if args.estimator == "discriminative":
        state["discriminative_kind"] = discriminative_kind(args)
    if label_map:
        state["label_names"] = list(data.label_names)
    outputs.write(out, _torch_bytes(state), "--out")
    _say(f"{report.summary()} -> {out} (torch.save)")
    if label_map:
        outputs.write(label_map, _json_bytes(dict(enumerate(data.label_names))), "--out (label numbering)")
        _say(f"label numbering (class index -> label) -> {label_map}")
    if export:
        outputs.write(export, _torch_bytes(export_s4d(layer)), "--export-s4d")
        _say(f"S4D-named parameters -> {export} (torch.save)")
    if plot:
        after = layer.power_spectrum(L).detach()
        outputs.write(plot, _plot_bytes(S, L, plot.suffix.lstrip(".").lower(),
                                        {"|H|^2 default (mean over channels)": before.mean(0),
                                         "|H|^2 after TDI (mean over channels)": after.mean(0)}), "--plot")
        _say(f"plot -> {plot}")
    return 0


def _run_tdi(args, S, L: int, layer_kw: dict):
    import torch

    from .layers import DiagonalSSM
    from .tdi import tdi_init

    try:
        gen = torch.Generator().manual_seed(args.seed)
        layer = DiagonalSSM(args.d_model, args.d_state, init=args.base_init, dtype=torch.float64, generator=gen,
                            **layer_kw)
        before = layer.power_spectrum(L).detach()
        if not args.quiet:
            _say(f"running TDI ({args.method}) on H={args.d_model}, N={args.d_state}, L={L} ...", file=sys.stderr)
        report = tdi_init(layer, S, method=args.method, L=L, seed=args.seed,
                          callback=None if args.quiet else _progress("TDI gradient"), **_tdi_target_options(args))
    except ValueError as exc:
        raise _cli_error(exc) from exc
    return layer, report, before


# ----------------------------------------------------------------------------- export
def export_s4d(layer) -> dict:
    """Parameters under the names of the state-spaces S4D kernel (``S4DKernel``).

    That kernel has no B (it is fixed to 1) and stores log_dt ``(H,)``, log_A_real and
    A_imag ``(H, N2)`` and C as real pairs ``(H, N2, 2)``. Our kernel with B is the same
    as theirs with C' = C * B, which is what is exported, so their kernel reproduces ours.
    The kernel takes L when it is called, so no L is stored.
    """
    import torch

    with torch.no_grad():
        C = layer.C_complex() * layer.B_complex()
        return {
            "log_dt": layer.log_dt.detach().clone(),
            "log_A_real": layer.log_A_real.detach().clone(),
            "A_imag": layer.A_imag.detach().clone(),
            "C": torch.view_as_real(C.detach().clone()),
        }


def _state_shapes(H: int, N2: int) -> dict:
    return {"log_dt": (H,), "log_A_real": (H, N2), "A_imag": (H, N2), "B": (H, N2, 2), "C": (H, N2, 2), "D": (H,)}


def _check_state(state, path: Path) -> tuple[int, int]:
    """Validate a parameter file's content against its own d_model / d_state before building anything."""
    import torch

    bad = f"PARAMS: {path} is not a parameter file written by `ssm-tdi init`"
    if not isinstance(state, dict) or not isinstance(state.get("state_dict"), dict):
        raise CLIError(f"{bad} (no state_dict)")
    H, N = state.get("d_model"), state.get("d_state")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (H, N)) or N % 2:
        raise CLIError(f"{bad} (d_model, d_state: expected positive integers, d_state even; got {H!r}, {N!r})")
    sd = state["state_dict"]
    for name, shape in _state_shapes(H, N // 2).items():
        t = sd.get(name)
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape:
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise CLIError(f"{bad} (parameter {name}: expected shape {shape} for d_model={H}, d_state={N}, "
                           f"got {got})")
        if not t.dtype.is_floating_point:
            raise CLIError(f"{bad} (parameter {name}: expected floating point values, got {t.dtype})")
    if set(sd) - set(_state_shapes(1, 1)):
        raise CLIError(f"{bad} (unexpected parameters {', '.join(sorted(set(sd) - set(_state_shapes(1, 1))))})")
    # a crafted file can hold (H, N2) tensors as zero-stride views of one number: size the layer first
    # (the layer and the export: 12 float64 (H, N2) arrays at most: parameters, init, C * B)
    _require(12 * 8 * H * (N // 2) + 100 * _MB, f"PARAMS: a layer of d_model={H}, d_state={N} from {path}")
    for name in _state_shapes(H, N // 2):
        if not bool(torch.isfinite(sd[name]).all()):
            raise CLIError(f"PARAMS: {path} holds non-finite (NaN or inf) values in parameter {name}")
    return H, N


def cmd_export(args, outputs: _Outputs) -> int:
    import torch

    from .layers import DiagonalSSM

    outputs.input(args.params, "PARAMS")
    out = outputs.plan(args.out, "--out", _TORCH)
    path = Path(args.params)
    if not path.exists():
        raise CLIError(f"PARAMS: file not found: {path}")
    if not path.is_file():
        raise CLIError(f"PARAMS: not a regular file: {path}")
    _require(2 * path.stat().st_size + 100 * _MB, f"PARAMS: {path}")
    try:
        # weights_only: a parameter file holds tensors, numbers and a string; never unpickle code
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CLIError(f"PARAMS: not a parameter file written by `ssm-tdi init` (cannot load it: {first})") from exc
    H, N = _check_state(state, path)
    try:
        layer = DiagonalSSM(H, N, dtype=torch.float64)
        layer.load_state_dict(state["state_dict"])
    except Exception as exc:
        raise CLIError(f"PARAMS: not a parameter file written by `ssm-tdi init`: {exc}") from exc
    params = export_s4d(layer)
    if not all(bool(torch.isfinite(v).all()) for v in params.values()):
        raise CLIError(f"PARAMS: {path} gives non-finite (NaN or inf) S4D parameters (C * B overflows)")
    outputs.write(out, _torch_bytes(params), "--out")
    _say(f"S4D-named parameters (log_dt, log_A_real, A_imag, C) -> {out} (torch.save)")
    return 0


def discriminative_kind(args) -> str:
    """The feature of the discriminative estimator: --discriminative-kind, else the library's default."""
    if args.discriminative_kind is not None:
        return args.discriminative_kind
    import inspect

    from .spectra import discriminative_spectrum

    return inspect.signature(discriminative_spectrum).parameters["kind"].default


# ----------------------------------------------------------------------------- parser
# the choices of --discriminative-kind: spectra.DISCRIMINATIVE_KINDS (a test keeps them equal; spectra is not
# imported here, so that --help does not load torch)
_DISCRIMINATIVE_KINDS = ("coefficient", "power", "log-power", "combined")
# Output paths stay text (type=str): Path() would drop a trailing '/', which must be refused, not ignored.
def _data_args(p):
    p.add_argument("data", type=Path, metavar="DATA",
                   help="sequences: .npy (n, L[, d]), .npz (see --x-key) or .csv (one sequence per row)")
    p.add_argument("--estimator", choices=("input", "transfer", "discriminative"), default="input",
                   help="input: mean periodogram (label-free); transfer: |S_uy|^2/S_uu (needs a target y); "
                        "discriminative: between-class / total variance per bin (needs labels)")
    p.add_argument("--discriminative-kind", choices=_DISCRIMINATIVE_KINDS, default=None,
                   help="discriminative estimator only: the per-sequence feature whose between-class / total "
                        "variance is taken. coefficient: complex DFT coefficient (phase-locked class templates; "
                        "blind to random phase); power / log-power: the periodogram or its log (phase-invariant); "
                        "combined: the larger of the coefficient and log-power ratios per bin. None: the "
                        "library's default, combined (it sees aligned and unaligned classes alike)")
    p.add_argument("--welch", type=int, default=None, metavar="SEG",
                   help="input estimator only: average over Welch segments of this length, then resample onto "
                        "the length-L grid (None: whole sequences)")
    p.add_argument("--x-key", default="X", help=".npz: key of the sequences")
    p.add_argument("--y-key", default="y", help=".npz: key of the targets (transfer estimator)")
    p.add_argument("--labels-key", default="labels", help=".npz: key of the class labels (numbers or text)")
    p.add_argument("--label-column", default=None, metavar="NAME|INDEX",
                   help=".csv: the column of class labels, by header name or 0-based index (-1: last); "
                        "text labels are numbered in sorted order (saved as OUT.labels.json)")


def init_arguments(p) -> None:
    """Every option of ``ssm-tdi init`` (one place, so that new TDI options are added here)."""
    _data_args(p)
    p.add_argument("--d-model", type=int, required=True, metavar="H", help="number of channels (required)")
    p.add_argument("--d-state", type=int, default=64, metavar="N", help="state size N (even; N/2 complex modes)")
    p.add_argument("--method", choices=("fast", "gradient"), default="fast",
                   help="fast: spectral factor + matrix pencil + Levenberg-Marquardt; gradient: Adam on L_spec")
    p.add_argument("--base-init", choices=_BASE_INITS, default="s4d-lin", help="the init TDI starts from")
    p.add_argument("--alpha", type=float, default=None,
                   help="--base-init freqbias only (required there): A_n = -1/2 + i alpha pi n")
    p.add_argument("--seed", type=int, default=0, help="seeds the base init and TDI's channel assignment")
    p.add_argument("--out", type=str, default="tdi_params.pt",
                   help="parameter file (torch.save: state_dict, d_model, d_state, L, S_task, report)")
    p.add_argument("--export-s4d", type=str, default=None, metavar="PATH",
                   help="also write the parameters under state-spaces S4D names (.pt)")
    p.add_argument("--plot", type=str, default=None, metavar="PATH",
                   help="also plot S_task with |H|^2 before and after TDI (.png, .pdf, ...)")
    p.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    _tdi_target_arguments(p)


def _tdi_target_arguments(p) -> None:
    """Target shaping, channel bank and dt split of ``tdi.tdi_init`` (issue 11; defaults = the library's)."""
    g = p.add_argument_group("target shaping and channel bank (issue 11; the defaults fit S_task as it is)")
    g.add_argument("--gamma", type=float, default=1.0,
                   help="fit S_task^gamma; gamma < 1 flattens a peak-dominated spectrum (1: as estimated)")
    g.add_argument("--flat-mix", type=float, default=0.0, metavar="W",
                   help="mix the target with a flat spectrum of equal power, weight W in [0, 1]")
    g.add_argument("--target-floor", type=float, default=0.0, metavar="F",
                   help="raise every bin to at least F x the peak (F in [0, 1]): out-of-band gain kept")
    g.add_argument("--bank", choices=("identical", "bands"), default="identical",
                   help="identical: every channel fits S_task (phase-diversified); bands: channels take distinct "
                        "bands whose sum is S_task (higher kernel effective rank)")
    g.add_argument("--default-fraction", type=float, default=0.0, metavar="P",
                   help="leave this fraction of channels (seeded) at --base-init (the mixed design)")
    g.add_argument("--dt-mode", choices=("keep", "s4d", "unit"), default="keep",
                   help="how fitted modes are split into dt and A (same kernel): keep the base init's dt, "
                        "dt with the fastest |a| = pi N/2, or dt = 1. Measured not to change persistence; to keep "
                        "the fit through training freeze dt, A, B there (ssm_tdi.layers.freeze_dynamics)")


def _tdi_target_options(args) -> dict:
    return {"gamma": args.gamma, "flat_mix": args.flat_mix, "target_floor": args.target_floor,
            "bank": args.bank, "default_fraction": args.default_fraction, "dt_mode": args.dt_mode}


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="ssm-tdi", description=__doc__.split("\n\n")[0], formatter_class=_Help,
                 epilog="Each command has its own --help. Exit codes: 0 done, 2 user error (one line on stderr).")
    ap.add_argument("--version", action="version", version=f"ssm-tdi {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("spectrum", help="estimate a task power spectrum S_task from data", formatter_class=_Help,
                       description="Estimate S_task on the rfft grid w_j = 2 pi j / L of the data's length L.")
    _data_args(p)
    p.add_argument("--out", type=str, default="spectrum.npz",
                   help="S_task: .npz (arrays S, L, omega, estimator) or .npy (S only; even L only)")
    p.add_argument("--plot", type=str, default=None, metavar="PATH", help="also plot it (.png, .pdf, ...)")
    p.set_defaults(func=cmd_spectrum)

    p = sub.add_parser("init", help="run TDI for a layer of the given size on the data and save its parameters",
                       formatter_class=_Help, epilog=INIT_SUMMARY_HELP,
                       description="Estimate S_task from DATA and fit a DiagonalSSM's |H|^2 to it (TDI).")
    init_arguments(p)
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("export", help="convert a parameter file of `init` to state-spaces S4D names",
                       formatter_class=_Help)
    p.add_argument("params", type=Path, metavar="PARAMS", help="file written by `ssm-tdi init`")
    p.add_argument("--out", type=str, default="s4d_params.pt",
                   help="S4D-named parameters (torch.save: log_dt, log_A_real, A_imag, C)")
    p.set_defaults(func=cmd_export)
    return ap


def main(argv=None) -> int:
    """Run one command; a user error prints one line on stderr and returns 2 (no output file is left)."""
    command = "ssm-tdi"
    outputs = None
    caught = []
    try:
        args = build_parser().parse_args(argv)
        command = f"ssm-tdi {args.command}"
        outputs = _Outputs()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for developer_only in (DeprecationWarning, PendingDeprecationWarning):  # about library internals
                warnings.simplefilter("ignore", developer_only)
            rc = args.func(args, outputs)
            outputs.commit()
        for message in dict.fromkeys(" ".join(str(w.message).split()) for w in caught):
            _say(f"{command}: warning: {message}", file=sys.stderr)
        return rc
    except CLIError as exc:
        _say(f"{command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    finally:
        if outputs is not None:
            outputs.discard()


if __name__ == "__main__":
    sys.exit(main())
