#!/usr/bin/python3
"""`inrgan bench --gemm-sweep` on lavapipe (validation on), CI-sized (batch 2, shapes scaled to
size 16, one rep): it runs cleanly and its JSON has every row (6 shapes x 5 precision/tile kinds)
with the fields docs/cli.md names; rows that ran name the kernel that ran, rows that could not
run say why. Once with INRGAN_VK_COOP_EMU=1 (the coop rows run the scalar twin: gemm-coop-emu),
once without (lavapipe has no cooperative matrices: the coop rows do not run). Usage errors:
exit 2. No timing is judged.
usage: test_gemm_sweep.py --inrgan PATH"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

SHAPES = [(0, 512, 512), (1, 512, 512), (2, 256, 256), (3, 128, 128), (2, 156, 256), (3, 160, 128)]
KINDS = [("fp32", "small"), ("fp32", "large"), ("fp16", "small"), ("fp16", "large"), ("fp16", "coop")]
KERNEL = {"fp32": "gemm", "fp16": "gemm-f16"}
failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures += 1


def sweep(inrgan, env, path, extra=()):
    cmd = [inrgan, "bench", "--gemm-sweep", "-g", "llvmpipe", "--batch", "2", "--sizes", "16",
           "--reps", "1", "--validate", "--json", path] + list(extra)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", required=True)
    a = ap.parse_args()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        for emu in (True, False):
            e = dict(env)
            e.pop("INRGAN_VK_COOP_EMU", None)
            if emu:
                e["INRGAN_VK_COOP_EMU"] = "1"
            path = os.path.join(tmp, "sweep-%d.json" % emu)
            p = sweep(a.inrgan, e, path)
            label = "emulated coop" if emu else "no coop"
            check(p.returncode == 0, "%s: exit 0 (got %d: %s)" % (label, p.returncode, p.stderr[-400:]))
            check("VUID" not in p.stderr, "%s: no validation message" % label)
            if p.returncode != 0:
                continue
            doc = json.load(open(path))["gemm_sweep"]
            rows = doc["rows"]
            check(doc["batch"] == 2 and doc["size"] == 16 and doc["reps"] == 1,
                  "%s: batch, size, reps recorded" % label)
            check(doc["peaks"]["fp32_gflops"] is not None and doc["peaks"]["fp32_gflops"] > 0,
                  "%s: the fp32 peak measured" % label)
            want = [(lv, ci, co, pr, ti) for (lv, ci, co) in SHAPES for (pr, ti) in KINDS]
            got = [(r["level"], r["c_in"], r["c_out"], r["precision"], r["tile"]) for r in rows]
            check(got == want, "%s: every row, in order (%d of %d)" % (label, len(got), len(want)))
            keys = {"level", "pixels", "c_in", "c_out", "batch", "precision", "tile", "ran", "kernel",
                    "gflop", "ms", "gflops", "peak_gflops", "percent_of_peak"}
            check(all(keys <= set(r) for r in rows), "%s: every row has %s" % (label, sorted(keys)))
            for r in rows:
                name = "%s: level %d %d->%d %s %s" % (label, r["level"], r["c_in"], r["c_out"],
                                                       r["precision"], r["tile"])
                if r["tile"] == "coop":
                    if emu:
                        check(r["ran"] and r["kernel"] == "gemm-coop-emu" and r["ms"] > 0,
                              name + ": ran the scalar twin (%s)" % r.get("kernel"))
                    else:
                        check(not r["ran"] and r["kernel"] is None and "cooperative" in r["why"],
                              name + ": not run, says why (%s)" % r.get("why"))
                    continue
                check(r["ran"] and r["kernel"] == KERNEL[r["precision"]] and r["ms"] > 0 and
                      r["gflops"] > 0 and r["percent_of_peak"] is not None,
                      name + ": ran %s (%s)" % (KERNEL[r["precision"]], r.get("kernel")))
        # usage errors: exit 2, one error line
        for extra in (["--config", "tiny"], ["--batch", "1,2"], ["--precision", "fp16"],
                      ["--backend", "cpu"]):
            p = sweep(a.inrgan, env, os.path.join(tmp, "bad.json"), extra)
            check(p.returncode == 2 and "inrgan: error:" in p.stderr and
                  not os.path.exists(os.path.join(tmp, "bad.json")),
                  "usage error %s: exit 2 (got %d)" % (" ".join(extra), p.returncode))
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
