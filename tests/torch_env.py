"""The common start of the Python tests (import it first): no bytecode in python/, python/ on
sys.path, numpy and torch imported or exit 77 (skipped), torch on at most two threads.

    from torch_env import ROOT, np, torch
"""
import os
import sys

sys.dont_write_bytecode = True  # keep python/ free of __pycache__ when tests run
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print("SKIP: %s (run with /usr/bin/python3, which has python3-torch)" % e)
    sys.exit(77)

torch.set_num_threads(min(2, os.cpu_count() or 1))

__all__ = ["ROOT", "np", "torch"]
