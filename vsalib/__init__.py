"""vsalib: region-based visual sentiment analysis, reproduced.

Small modules with one job each: ``vsalib.data`` (datasets, labels, protocols),
``vsalib.emotions`` (Mikels' wheel, label distributions, the sentiment graph),
``vsalib.backbones`` (CNN trunks with their preprocessing), ``vsalib.train``
(device-agnostic training core), ``vsalib.methods`` (one module per paper),
``vsalib.results`` / ``vsalib.targets`` / ``vsalib.evaluate`` (records, published
figures, metrics).
"""

import os as _os

# OpenMP threads that spin while waiting make torch up to 100x slower on a small machine whose
# other cores are busy (two OpenMP runtimes are loaded with scikit-learn). Passive waiting costs
# little; it only takes effect when vsalib is imported before torch (the Makefile also sets it).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
