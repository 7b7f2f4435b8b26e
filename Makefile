# ssm-tdi: every command a user or CI runs. `make help` lists them.
PYTHON ?= python3
PROFILE ?= quick
DEVICE ?= auto
TORCH_CPU_VERSION ?= 2.13.0

.PHONY: help install test test-long verify theory lint clean figures results-page report reproduce

# Figure scripts, in the order of the results page (paper_figures/fig_<name>.py).
FIGURES := $(patsubst paper_figures/fig_%.py,%,$(sort $(wildcard paper_figures/fig_*.py)))

help:
	@echo "make install    install the package with its dev extra (torch $(TORCH_CPU_VERSION) CPU first if absent)"
	@echo "make test       run the test suite (derandomized hypothesis profile)"
	@echo "make test-long  the test suite with the long hypothesis profile and slow tests"
	@echo "make verify     numerical check of each claim C1-C4: one PASS/FAIL line each"
	@echo "make theory     exact sympy proofs of the identities behind the claims"
	@echo "make figures    regenerate every figure + paper_figures/RESULTS.md (PROFILE=smoke|quick|full, DEVICE=auto|cpu|cuda)"
	@echo "make figure-X   one figure, e.g. make figure-spectrum"
	@echo "make report     execute the report notebooks (report/*.py) and render report/index.html"
	@echo "make reproduce  rerun figures (PROFILE=smoke by default here) and compare key numbers with the committed ones"
	@echo "make lint       ruff"
	@echo "make clean      remove caches and generated files"

install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "torch==$(TORCH_CPU_VERSION)"
	$(PYTHON) -m pip install -e ".[dev,data,report]"

# pytest exits 5 when no test ran, which fails this target: an empty run never passes.
test:
	$(PYTHON) -m pytest -q -m "not slow"

test-long:
	SSM_TDI_HYPOTHESIS=long $(PYTHON) -m pytest -q

verify:
	$(PYTHON) -m verify --json verify/results.json

theory:
	$(PYTHON) -m theory

figures: $(addprefix figure-,$(FIGURES))
	$(PYTHON) -m paper_figures.results_page --profile $(PROFILE)

# The same environment as `make reproduce`: BLAS threads pinned to 1 (a threaded reduction can change the last
# bit; one thread is also faster for the figures' small factorizations) and CPU-dispatch overrides such as
# OPENBLAS_CORETYPE removed (measured: OPENBLAS_CORETYPE=Haswell moves spectrum's slopes in the last bit).
FIG_ENV := env -u ATEN_CPU_CAPABILITY -u MKL_CBWR -u MKL_ENABLE_INSTRUCTIONS -u OPENBLAS_CORETYPE \
	-u NPY_DISABLE_CPU_FEATURES OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONHASHSEED=0
figure-%:
	$(FIG_ENV) $(PYTHON) -m paper_figures.fig_$* --profile $(PROFILE) --device $(DEVICE)

# REPORT_ARGS=--small: the small sizes CI executes (about a minute); default sizes take ~3 min.
report:
	$(PYTHON) -m report.build $(REPORT_ARGS)

reproduce:
	$(PYTHON) -m paper_figures.reproduce --profile $(or $(REPRO_PROFILE),smoke)

results-page:
	$(PYTHON) -m paper_figures.results_page --profile $(PROFILE)

lint:
	$(PYTHON) -m ruff check src tests theory verify paper_figures benchmarks report

clean:
	rm -rf .pytest_cache .hypothesis .ruff_cache build dist src/*.egg-info verify/results.json
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
