# ssm-tdi: every command a user or CI runs. `make help` lists them.
PYTHON ?= python3
PROFILE ?= quick
DEVICE ?= auto
TORCH_VERSION ?= 2.13.0
# Where torch comes from when it is not installed yet: empty = pip's configured index (on Linux the
# public index serves the CUDA build); README "Set up" gives PyTorch's CPU-only and CUDA index URLs.
TORCH_INDEX_URL ?=

# Every target that runs project code first makes sure the package is installed, so `make verify` and
# `make test` work as the first command on a fresh clone. The stamp depends on pyproject.toml (a new
# dependency installs again) and is named after the interpreter's prefix (a new virtual environment
# installs again). `make install` always installs.
INSTALL_STAMP := .install-$(shell $(PYTHON) -c "import hashlib, sys; print(hashlib.sha1(sys.prefix.encode()).hexdigest()[:12])" 2>/dev/null || echo unknown).stamp

.PHONY: help install print-install-stamp test test-long verify theory lint clean figures results-page report reproduce \
	e3-full-tables

# Figure scripts, in the order of the results page (paper_figures/fig_<name>.py).
FIGURES := $(patsubst paper_figures/fig_%.py,%,$(sort $(wildcard paper_figures/fig_*.py)))

help:
	@echo "make install    install the package and its extras (torch $(TORCH_VERSION) first if absent; TORCH_INDEX_URL=...)"
	@echo "make test       run the test suite (derandomized hypothesis profile)"
	@echo "make test-long  the test suite with the long hypothesis profile and slow tests"
	@echo "make verify     numerical check of each claim C1-C4: one PASS/FAIL line each"
	@echo "make theory     exact sympy proofs of the identities behind the claims"
	@echo "make figures    regenerate every figure + paper_figures/RESULTS.md (PROFILE=smoke|quick|full, DEVICE=auto|cpu|cuda)"
	@echo "make figure-X   one figure, e.g. make figure-spectrum"
	@echo "make report     execute the report notebooks (report/*.py) and render report/index.html"
	@echo "make e3-full-tables  rebuild the full E3 grid's tables and figures from the committed cells (no training)"
	@echo "make reproduce  rerun figures (PROFILE=smoke by default here) and compare key numbers with the committed ones"
	@echo "make lint       ruff"
	@echo "make clean      remove caches and generated files"

install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "torch==$(TORCH_VERSION)" \
		$(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(PYTHON) -m pip install -e ".[dev,data,report,engine]"
	@touch $(INSTALL_STAMP)

# Installs on demand (first run, or pyproject.toml newer than the stamp); a failed install leaves no stamp.
$(INSTALL_STAMP): pyproject.toml
	@echo "make: installing the package into $(PYTHON)'s environment first (once; again when pyproject.toml changes)"
	@$(MAKE) --no-print-directory install

print-install-stamp:
	@echo $(INSTALL_STAMP)

# pytest exits 5 when no test ran, which fails this target: an empty run never passes.
test: $(INSTALL_STAMP)
	$(PYTHON) -m pytest -q -m "not slow"

test-long: $(INSTALL_STAMP)
	SSM_TDI_HYPOTHESIS=long $(PYTHON) -m pytest -q

verify: $(INSTALL_STAMP)
	$(PYTHON) -m verify --json verify/results.json

theory: $(INSTALL_STAMP)
	$(PYTHON) -m theory

figures: $(INSTALL_STAMP) $(addprefix figure-,$(FIGURES)) $(if $(filter quick,$(PROFILE)),e3-full-tables)
	$(PYTHON) -m paper_figures.results_page --profile $(PROFILE)

# The budgeted full E3 grid runs over several sessions (python -m paper_figures.e3_run --profile full --export);
# its tables and figures are rebuilt here from the committed cells only (no training; about a minute).
# e3_spectra trains nothing: it sets the default's spectral mismatch per data set against the TDI gains in the
# same committed cells (the mechanism check "TDI helps primarily where the default is mismatched").
E3_TABLE_FIGURES := e3_accuracy e3_forecast
e3-full-tables: $(INSTALL_STAMP)
	$(foreach f,$(E3_TABLE_FIGURES),$(FIG_ENV) $(PYTHON) -m paper_figures.fig_$(f) --profile full --device cpu --committed-only &&) true
	$(FIG_ENV) $(PYTHON) -m paper_figures.fig_e3_spectra --profile full --device cpu

# The same environment as `make reproduce`: BLAS threads pinned to 1 (a threaded reduction can change the last
# bit; one thread is also faster for the figures' small factorizations) and CPU-dispatch overrides such as
# OPENBLAS_CORETYPE removed (measured: OPENBLAS_CORETYPE=Haswell moves spectrum's slopes in the last bit).
FIG_ENV := env -u ATEN_CPU_CAPABILITY -u MKL_CBWR -u MKL_ENABLE_INSTRUCTIONS -u OPENBLAS_CORETYPE \
	-u NPY_DISABLE_CPU_FEATURES OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONHASHSEED=0
figure-%: $(INSTALL_STAMP)
	$(FIG_ENV) $(PYTHON) -m paper_figures.fig_$* --profile $(PROFILE) --device $(DEVICE)

# REPORT_ARGS=--small: the small sizes CI executes (about a minute); default sizes take ~3 min.
report: $(INSTALL_STAMP)
	$(PYTHON) -m report.build $(REPORT_ARGS)

reproduce: $(INSTALL_STAMP)
	$(PYTHON) -m paper_figures.reproduce --profile $(or $(REPRO_PROFILE),smoke)

results-page: $(INSTALL_STAMP)
	$(PYTHON) -m paper_figures.results_page --profile $(PROFILE)

lint: $(INSTALL_STAMP)
	$(PYTHON) -m ruff check src tests theory verify paper_figures benchmarks report

clean:
	rm -rf .pytest_cache .hypothesis .ruff_cache build dist src/*.egg-info verify/results.json .install-*.stamp
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
