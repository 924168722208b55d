# The README's two commands: `make book` and `make test`. Both set up .venv first
# (fast when it exists and requirements.txt / pyproject.toml are unchanged).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.vsalib-installed
# Spinning OpenMP threads slow torch down by up to 100x when other work shares the cores.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup book test test-fast benchmark results publish clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-compile -r requirements.txt
	# Both OpenCV wheels write the same cv2 package: re-install the contrib build last so
	# that cv2.ximgproc (EdgeBoxes, structured edges) is the one left on disk.
	$(PY) -m pip install -q --no-compile --force-reinstall --no-deps \
	  $$(grep -E '^opencv-contrib-python-headless==' requirements.txt)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -c "import torch, torchvision, cv2; cv2.ximgproc; from torchvision.ops import roi_align; print('vsalib env ok: torch', torch.__version__, 'torchvision', torchvision.__version__, 'cv2', cv2.__version__)"
	touch $(STAMP)

book: setup
	$(PY) scripts/build_book.py

# Two pytest-xdist workers: the notebooks and the book test on one (in order), the other test files on both.
TEST_WORKERS ?= 2
test: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup --nbval-lax notebooks tests

test-fast: setup
	$(PY) -m pytest tests -m "not slow"

benchmark: setup
	$(PY) benchmarks/run.py

clean:
	rm -rf book/_build book/notebooks

# make results [PROFILE=cpu] [CHAPTERS="sun2016 rcnngsr"] [DATASETS=twitter1] [SUBSETS="five four"]
#              [SCHEDULER=tcp://host:8786] [WORKERS=2]: a grid of jobs on Dask (a local cluster unless SCHEDULER)
PROFILE ?= cpu
results: setup
	$(PY) scripts/run_real_results.py --profile $(PROFILE) \
	  $(if $(CHAPTERS),--chapters $(CHAPTERS)) $(if $(DATASETS),--only $(DATASETS)) $(if $(SUBSETS),--subsets $(SUBSETS)) \
	  $(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(if $(WORKERS),--workers $(WORKERS))

# Copy the finished real-data runs of PROFILE from the working store into results/published/ (committed).
publish: setup
	$(PY) scripts/publish_results.py --profile $(PROFILE)
