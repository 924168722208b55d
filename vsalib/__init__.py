"""vsalib: region-based visual sentiment analysis, reproduced.

Small modules with one job each: ``vsalib.data`` (datasets, labels, protocols),
``vsalib.emotions`` (Mikels' wheel, label distributions, the sentiment graph),
``vsalib.backbones`` (CNN trunks with their preprocessing), ``vsalib.train``
(device-agnostic training core), ``vsalib.methods`` (one module per paper),
``vsalib.results`` / ``vsalib.targets`` / ``vsalib.evaluate`` (records, published
figures, metrics).
"""

__version__ = "0.1.0"
