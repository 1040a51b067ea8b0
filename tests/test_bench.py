#!/usr/bin/python3
"""`inrgan bench` and the PyTorch baseline in CI-sized form (a tiny built-in config, one size,
one rep): both run, and both JSON outputs validate against docs/bench-schema.json. Also checks
that the C and Python built-in configs are the same architecture (no drift between the two
definitions). No timing is asserted. usage: test_bench.py --inrgan PATH"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.dont_write_bytecode = True

try:
    import jsonschema
    import torch  # noqa: F401
except ImportError as e:
    print("skipped:", e)
    sys.exit(77)

from inrgan import config as configs  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", required=True)
    a = ap.parse_args()
    schema = json.load(open(os.path.join(ROOT, "docs", "bench-schema.json")))
    fails = []
    with tempfile.TemporaryDirectory() as tmp:
        cj, tj = os.path.join(tmp, "c.json"), os.path.join(tmp, "t.json")
        p = subprocess.run([a.inrgan, "bench", "--config", "tiny-nearest", "--sizes", "32", "--batch", "1",
                            "--reps", "1", "--json", cj], capture_output=True, text=True, timeout=300)
        if p.returncode:
            fails.append("inrgan bench: " + p.stderr)
        p = subprocess.run([sys.executable, "-m", "inrgan.bench_torch", "--config", "tiny-nearest", "--batch", "1",
                            "--reps", "1", "--json", tj, "-q"], capture_output=True, text=True, timeout=300,
                           cwd=os.path.join(ROOT, "python"))
        if p.returncode:
            fails.append("bench_torch: " + p.stderr)
        for path in (cj, tj):
            if os.path.exists(path):
                try:
                    doc = json.load(open(path))
                    jsonschema.validate(doc, schema)
                    print("ok   %s validates (%d results)" % (doc["tool"], len(doc["results"])))
                except Exception as e:  # noqa: BLE001
                    fails.append("%s: %s" % (path, str(e).splitlines()[0]))
        # a document missing a field must fail validation (the schema is not vacuous)
        try:
            bad = json.load(open(cj))
            del bad["results"][0]["images_per_s"]
            jsonschema.validate(bad, schema)
            fails.append("schema accepted a result without images_per_s")
        except jsonschema.ValidationError:
            print("ok   schema rejects a result without images_per_s")
        except Exception as e:  # noqa: BLE001
            fails.append(str(e))
        # C built-in configs == Python built-in configs
        for name in configs.BUILTIN_NAMES:
            ij = os.path.join(tmp, "info.json")
            p = subprocess.run([a.inrgan, "info", "--config", name, "--json", ij], capture_output=True, text=True)
            if p.returncode:
                fails.append("info --config %s: %s" % (name, p.stderr.strip()))
                continue
            c = json.load(open(ij))["config"]
            py = configs.builtin(name)
            for k in ("provenance",):
                c.pop(k, None)
                py.pop(k, None)
            if c != py:
                fails.append("built-in %s differs between C and Python" % name)
            else:
                print("ok   built-in %s: C and Python agree" % name)
    for f in fails:
        print("FAIL", f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
