"""pykdtree's KDTree, its OpenMP runtime started with one thread.

A query of one point (what every request asks) would otherwise wake a thread per core for each call:
on a busy server that costs milliseconds instead of microseconds. The OpenMP runtime reads
OMP_NUM_THREADS once, when it is loaded, so the variable is set for the import alone and put back.
"""
from __future__ import annotations

import os

_saved = os.environ.get("OMP_NUM_THREADS")
os.environ["OMP_NUM_THREADS"] = "1"
try:
    from pykdtree.kdtree import KDTree
finally:
    if _saved is None:
        del os.environ["OMP_NUM_THREADS"]
    else:
        os.environ["OMP_NUM_THREADS"] = _saved

__all__ = ["KDTree"]
