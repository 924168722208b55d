"""Test-session settings: results and caches go to a temporary folder, never the repository's.

A user's own VSALIB_RESULTS / VSALIB_CACHE are left alone only when VSALIB_TEST_KEEP_ENV=1.
"""

import os
import tempfile


def pytest_configure(config):
    if os.environ.get("VSALIB_TEST_KEEP_ENV") == "1":
        return
    base = tempfile.mkdtemp(prefix="vsalib-tests-")
    os.environ["VSALIB_RESULTS"] = os.path.join(base, "results")
    os.environ["VSALIB_CACHE"] = os.path.join(base, "cache")
