"""The common start of the Python tests (import it first): no bytecode in python/, python/ on
sys.path, numpy and torch imported or exit 77 (skipped), torch on at most two threads; and the
check list of the tests made of independent checks.

    from torch_env import ROOT, np, torch
    from torch_env import check, run_checks   # @check def name(...): ...; sys.exit(run_checks())
    (run_checks(tmp=TMP) also removes TMP afterwards)
"""
import os
import shutil
import sys
import traceback

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

CHECKS = []


def check(fn):
    """Registers a check: a function that raises on failure and may return a message."""
    CHECKS.append(fn)
    return fn


def run_checks(*args, tmp=None):
    """Runs every registered check with `args`, printing ok/FAIL lines (a traceback for errors
    other than failed assertions); returns the exit code, 1 if any check failed. Removes the
    folder `tmp` (when given) afterwards, whatever happened."""
    try:
        return _run_checks(args)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _run_checks(args):
    failures = []
    for fn in CHECKS:
        try:
            msg = fn(*args)
            print("ok   %-28s %s" % (fn.__name__, msg or ""))
        except Exception as e:  # noqa: BLE001
            failures.append(fn.__name__)
            print("FAIL %-28s %s" % (fn.__name__, e))
            if not isinstance(e, AssertionError):
                traceback.print_exc()
    if failures:
        print("%d of %d checks failed: %s" % (len(failures), len(CHECKS), ", ".join(failures)))
        return 1
    print("all %d checks passed" % len(CHECKS))
    return 0


__all__ = ["ROOT", "np", "torch", "check", "run_checks"]
