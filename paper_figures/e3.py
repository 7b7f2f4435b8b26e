"""The real-data study E3 (issues 5, 7, 15): where its parts live, and their names in one namespace.

* ``paper_figures/e3_plan.py``   - the config (``configs/e3.json``), recipes, inits, the cell grid of a profile;
* ``paper_figures/e3_cell.py``   - one cell: data subset, model, init/TDI/control, training, score;
* ``paper_figures/e3_cache.py``  - the cell cache (per-cell files, committed JSONL stores), validation;
* ``paper_figures/e3_engine.py`` - running a grid: in process or on dask.distributed, progress, resumption;
* ``paper_figures/e3_table.py``  - statistics per (data set, x) (``ssm_tdi.stats``) and the results table;
* ``paper_figures/e3_run.py``    - the command line that runs a profile's grid (``python -m paper_figures.e3_run``).

``from paper_figures import e3`` gives the names the figure scripts and benchmarks use.
"""

from paper_figures.e3_cache import cell_path, export_jsonl, load_store, validate  # noqa: F401
from paper_figures.e3_cell import (  # noqa: F401
    apply_init,
    build_model,
    classification_data,
    example_window,
    forecast_baselines,
    forecast_data,
    forecast_scores,
    run_cell,
    run_classification_cell,
    run_forecast_cell,
    series_data,
    train_config,
)
from paper_figures.e3_engine import compute_cell, run_cells  # noqa: F401
from paper_figures.e3_plan import (  # noqa: F401
    CLASSIFICATION_INITS,
    COLORS,
    CONFIG_PATH,
    CONTROL_INITS,
    DEFAULT_INIT,
    FORECAST_INITS,
    INITS,
    LABELS,
    REFERENCE_INIT,
    TDI_MAIN,
    VERSION,
    cell_key,
    cell_spec,
    load_config,
    plan_specs,
    profile_entries,
    profile_names,
    recipe,
)


def add_engine_args(p) -> None:
    """--jobs / --scheduler / --train / --committed-only of the E3 scripts (the last two exclude each other)."""
    p.add_argument("--jobs", type=int, default=None,
                   help="worker processes of the embedded dask cluster (default: 2 on CPU; 1 = in process)")
    p.add_argument("--scheduler", default=None,
                   help="address of an existing dask scheduler (tcp://host:port) to run the cells on")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--train", action="store_true",
                       help="compute cells that are not cached (default: tabulate the finished cells only; "
                            "the smoke profile always computes its few tiny cells)")
    which.add_argument("--committed-only", action="store_true",
                       help="tabulate the cells committed in paper_figures/cells/ only, ignoring this machine's "
                            "cell cache (what `make e3-full-tables` uses: committed tables then depend on committed "
                            "cells alone; export a run with `e3_run --export` first)")


add_jobs_arg = add_engine_args
