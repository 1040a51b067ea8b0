#!/usr/bin/python3
"""`inrgan bench` and the PyTorch baseline in CI-sized form (a tiny built-in config, one size,
one rep): both run, and both JSON outputs validate against docs/bench-schema.json. Also checks
that the C and Python built-in configs are the same architecture (no drift between the two
definitions). Where the lavapipe ICD exists and the build has Vulkan: `inrgan bench` on the
Vulkan backend (-g llvmpipe, validation on) and with --backend all, whose split run (the batch
through one queue over cpu + lavapipe) counts every image once. No timing is asserted.
usage: test_bench.py --inrgan PATH"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.dont_write_bytecode = True

try:
    import jsonschema
except ImportError as e:
    print("skipped:", e)
    sys.exit(77)
try:
    import torch  # noqa: F401
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False

LVP = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"

from inrgan import config as configs  # noqa: E402

# the CIPS built-ins of src/builtin.c and what they mean in python/inrgan/cips.py terms
TINY_CIPS = dict(size=16, hidden_size=32, style_dim=32, n_mlp=2, channels=[32, 32, 16])
CIPS_BUILTINS = {"cips256": ("CIPSskip", dict(coords_size=256)),
                 "cips1024": ("CIPSskip", dict(coords_size=1024)),
                 "cips256-res": ("CIPSres", dict(coords_size=256)),
                 "tiny-cips": ("CIPSskip", TINY_CIPS), "tiny-cips-res": ("CIPSres", TINY_CIPS)}


def vulkan_checks(cli, schema, tmp, fails):
    """inrgan bench on lavapipe: --backend vulkan and --backend all, named with -g llvmpipe."""
    env = dict(os.environ, VK_DRIVER_FILES=LVP, VK_ICD_FILENAMES=LVP)
    dev = subprocess.run([cli, "devices"], capture_output=True, text=True, env=env) if os.path.exists(LVP) else None
    if dev is None or "llvmpipe" not in dev.stdout:
        print("skip Vulkan bench checks: no lavapipe (or no Vulkan in this build)")
        return
    common = ["--config", "tiny-nearest", "--sizes", "32", "--batch", "1", "--reps", "1"]

    def bench(name, args):
        path = os.path.join(tmp, name + ".json")
        p = subprocess.run([cli, "bench"] + args + common + ["--json", path], capture_output=True, text=True,
                           env=env, timeout=600)
        if p.returncode:
            fails.append("bench %s: %s" % (" ".join(args), p.stderr.strip()))
            return None
        try:
            doc = json.load(open(path))
            jsonschema.validate(doc, schema)
        except Exception as e:  # noqa: BLE001
            fails.append("bench %s: %s" % (" ".join(args), str(e).splitlines()[0]))
            return None
        print("ok   bench %s validates (%d results)" % (" ".join(args), len(doc["results"])))
        return doc

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            fails.append(what)

    doc = bench("vk", ["--backend", "vulkan", "-g", "llvmpipe", "--validate"])
    if doc:
        res = doc["results"]
        check(len(res) == 1 and res[0]["backend"] == "vulkan" and "llvmpipe" in res[0]["device"],
              "one vulkan result on llvmpipe")
        r = res[0]
        check(r["gpu_ms"] is not None and r["gpu_ms"]["median"] > 0, "vulkan result has gpu_ms (timestamps)")
        check(r["precision"] == "fp32" and isinstance(r["api_version"], str) and r["vendor"] and r["driver"],
              "vulkan result names precision, vendor, driver and API version")
        check(abs(r["executed_gflop_per_image"] - r["model_gflop_per_image"]) <= 1e-9,
              "vulkan executed GFLOP per image = the nominal (model) GFLOP")
        peaks = [p for p in doc["peaks"] if p["backend"] == "vulkan"]
        check(len(peaks) == 1 and (peaks[0]["fp32_gflops"] or 0) > 0,
              "one vulkan peak entry with fp32 peak > 0 (%s)" % (peaks[0] if peaks else None))
        check(r["peak_gflops"] == peaks[0]["fp32_gflops"] if peaks else False, "fp32 result uses the fp32 peak")
        if peaks:
            print("     lavapipe peaks GFLOP/s: fp32 %s, fp16 %s, coopmat %s" % (
                peaks[0]["fp32_gflops"], peaks[0]["fp16_gflops"], peaks[0]["coopmat_gflops"]))
    # --phases: per-phase device time of one profiled render; the phases sum to that render's device
    # time (timestamps between consecutive dispatches: within 10 %), levels have GFLOP counts
    for kernel in ("pixel", "gemm", "fused"):
        env["INRGAN_VK_KERNEL"] = kernel
        doc = bench("phases-" + kernel, ["--backend", "vulkan", "-g", "llvmpipe", "--validate", "--phases"])
        env.pop("INRGAN_VK_KERNEL")
        if not doc:
            continue
        r = doc["results"][0]
        ph = r.get("phases") or []
        names = [p["name"] for p in ph]
        check(r.get("level_kernel") == kernel, "%s: the %s level kernel ran (%s)" % (kernel, kernel, r.get("level_kernel")))
        check(names[:2] == ["hypernetwork", "weights"] and "level0" in names and
              all(n in ("hypernetwork", "weights", "torgb") or n.startswith("level") for n in names),
              "%s: phases hypernetwork, weights, level0.. (%s)" % (kernel, names))
        check(("torgb" in names) == (kernel == "gemm"), "%s: a separate torgb phase only with gemm (%s)" % (kernel, names))
        total = r["profiled_gpu_ms"] or 0
        check(total > 0 and abs(sum(p["gpu_ms"] for p in ph) - total) <= 0.1 * total and
              abs(r["phases_gpu_ms"] - sum(p["gpu_ms"] for p in ph)) <= 1e-3,
              "%s: phases sum %.3f ms, profiled render %.3f ms" % (kernel, r["phases_gpu_ms"], total))
        lv = [p for p in ph if p["name"].startswith("level")]
        check(all(p["gflop"] and p["executed_gflops"] for p in lv) and
              abs(sum(p["gflop"] for p in lv) - r["model_gflop_per_image"] * r["batch"]) <=
              1e-3 * r["model_gflop_per_image"] * r["batch"],
              "%s: level GFLOP sum to the model's (%s vs %s)" % (kernel, [p["gflop"] for p in lv],
                                                                   r["model_gflop_per_image"] * r["batch"]))
        check(r.get("chunk_images") == r["batch"] and r.get("chunk_limit") is None,
              "%s: the whole batch in one chunk (%s, %s)" % (kernel, r.get("chunk_images"), r.get("chunk_limit")))
    # the level kernel chosen by measurement (forced on lavapipe), then read from the cache; a
    # render split into several submissions (INRGAN_VK_SUBMIT_MS) says so in the table and JSON
    env2 = dict(env, XDG_CACHE_HOME=os.path.join(tmp, "xdg"), INRGAN_VK_KERNEL_MEASURE="1",
                INRGAN_VK_SUBMIT_MS="0.001")
    env2.pop("INRGAN_PIPELINE_CACHE", None)
    for use, want in (("first", "measured"), ("second", "cache")):
        path = os.path.join(tmp, "choice-%s.json" % use)
        p = subprocess.run([cli, "bench", "--backend", "vulkan", "-g", "llvmpipe", "--validate", "--phases", "--json",
                            path] + common, capture_output=True, text=True, env=env2, timeout=600)
        if p.returncode:
            fails.append("bench (kernel choice, %s use): %s" % (use, p.stderr.strip()))
            continue
        doc = json.load(open(path))
        jsonschema.validate(doc, schema)
        r = doc["results"][0]
        check(r.get("level_kernel_source") == want and
              sorted(r.get("level_kernel_times_ms") or {}) == ["fused", "gemm", "pixel"]
              and r.get("level_kernel") in ("fused", "gemm", "pixel"),
              "%s use: level kernel %s (%s, %s)" % (use, r.get("level_kernel"), r.get("level_kernel_source"),
                                                   r.get("level_kernel_times_ms")))
        check((r.get("submissions") or 0) > 1 and r.get("submit_target_ms") == 0.001,
              "%s use: split into %s submissions" % (use, r.get("submissions")))
        check("level kernel %s (%s:" % (r.get("level_kernel"), want) in p.stdout and "submissions " in p.stdout and
              " peak " in p.stdout, "%s use: the table has the level kernel, submissions and %% of peak per phase" % use)
    doc = bench("all", ["--backend", "all", "-g", "llvmpipe"])
    if doc:
        backends = sorted(r["backend"] for r in doc["results"])
        check(backends == ["cpu", "vulkan"], "--backend all -g llvmpipe: a cpu and a vulkan result (%s)" % backends)
        check(sorted(p["backend"] for p in doc["peaks"]) == ["cpu", "vulkan"], "--backend all: one peak per device")
        cpu = [r for r in doc["results"] if r["backend"] == "cpu"]
        check(bool(cpu) and cpu[0]["gpu_ms"] is None, "cpu result has gpu_ms null")
        sp = (doc.get("split") or {}).get("results") or [{}]
        check(sum(d["images"] for d in sp[0].get("per_device", [])) == 1,
              "--backend all --batch 1: a split run of the one image (%s)" % sp[0].get("per_device"))
    # several devices: after the per-device rows a split run of the batch through one queue; the
    # images per device sum to the batch, every device is named, ratio = aggregate / sum of rows
    path = os.path.join(tmp, "split.json")
    args = ["--backend", "all", "-g", "llvmpipe", "--config", "tiny-nearest", "--sizes", "32", "--batch", "4",
            "--reps", "2", "--warmup", "0"]
    p = subprocess.run([cli, "bench"] + args + ["--json", path], capture_output=True, text=True, env=env,
                       timeout=600)
    doc = None
    if p.returncode:
        fails.append("bench %s: %s" % (" ".join(args), p.stderr.strip()))
    else:
        try:
            doc = json.load(open(path))
            jsonschema.validate(doc, schema)
        except Exception as e:  # noqa: BLE001
            fails.append("bench split: %s" % str(e).splitlines()[0])
    if doc:
        sp = doc.get("split") or {}
        res = sp.get("results") or []
        check([d["backend"] for d in sp.get("devices", [])] == ["cpu", "vulkan"] and len(res) == 1,
              "split: one result over cpu and vulkan (%s)" % sp.get("devices"))
        if res:
            r = res[0]
            per = r["per_device"]
            check(len(per) == 2 and sum(d["images"] for d in per) == 4 and
                  sum(d["images_all_reps"] for d in per) == 4 * 2,
                  "split: images per device sum to the batch, each rep (%s)" % per)
            rates = sum(x["images_per_s"] for x in doc["results"])
            check(r["batch"] == 4 and r["size"] == 32 and abs(r["sum_device_images_per_s"] - rates) <= 1e-3 * rates
                  and abs(r["ratio_to_sum"] - r["images_per_s"] / rates) <= 1e-3,
                  "split: aggregate %.1f img/s, sum of devices %.1f, ratio %.3f" % (
                      r["images_per_s"], rates, r["ratio_to_sum"]))
        check("split:" in p.stdout and "images per device" in p.stdout, "split: a table section")
    p = subprocess.run([cli, "bench"] + args + ["--no-split", "--json", path], capture_output=True, text=True,
                       env=env, timeout=600)
    check(p.returncode == 0 and "split" not in json.load(open(path)) and "split:" not in p.stdout,
          "--no-split: no split run")
    # no -g and only a CPU-type device: an error in one line naming IG_ERR_NO_DEVICE, not a fallback
    p = subprocess.run([cli, "bench", "--backend", "vulkan"] + common, capture_output=True, text=True, env=env,
                       timeout=300)
    err = p.stderr.strip().splitlines()
    check(p.returncode == 2 and len(err) == 1 and "IG_ERR_NO_DEVICE" in err[0],
          "bench --backend vulkan without a GPU fails in one line (%r)" % p.stderr.strip())


def cips_builtin(name):
    """The config python/inrgan/cips.py writes for a C built-in CIPS config."""
    from inrgan import cips
    arch, kw = CIPS_BUILTINS[name]
    return cips.cips_config(cips.ARCHS[arch](device="meta", **kw))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", required=True)
    a = ap.parse_args()
    schema = json.load(open(os.path.join(ROOT, "docs", "bench-schema.json")))
    fails = []
    with tempfile.TemporaryDirectory() as tmp:
        cj = os.path.join(tmp, "c.json")
        for cfg_name in ("tiny-nearest", "tiny-cips"):  # both model families
            cjn, tjn = os.path.join(tmp, cfg_name + "-c.json"), os.path.join(tmp, cfg_name + "-t.json")
            p = subprocess.run([a.inrgan, "bench", "--config", cfg_name, "--sizes", "32", "--batch", "1",
                                "--reps", "1", "--json", cjn], capture_output=True, text=True, timeout=300)
            if p.returncode:
                fails.append("inrgan bench --config %s: %s" % (cfg_name, p.stderr))
            if HAVE_TORCH:
                p = subprocess.run([sys.executable, "-m", "inrgan.bench_torch", "--config", cfg_name, "--batch",
                                    "1", "--reps", "1", "--json", tjn, "-q"], capture_output=True, text=True,
                                   timeout=300, cwd=os.path.join(ROOT, "python"))
                if p.returncode:
                    fails.append("bench_torch --config %s: %s" % (cfg_name, p.stderr))
            else:
                print("skip the PyTorch baseline: no torch")
            for path in (cjn, tjn):
                if os.path.exists(path):
                    try:
                        doc = json.load(open(path))
                        jsonschema.validate(doc, schema)
                        print("ok   %s %s validates (%d results)" % (doc["tool"], cfg_name, len(doc["results"])))
                    except Exception as e:  # noqa: BLE001
                        fails.append("%s: %s" % (path, str(e).splitlines()[0]))
            if cfg_name == "tiny-nearest" and os.path.exists(cjn):
                shutil.copy(cjn, cj)
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
        vulkan_checks(a.inrgan, schema, tmp, fails)
        # C built-in configs == Python built-in configs
        for name in list(configs.BUILTIN_NAMES) + (list(CIPS_BUILTINS) if HAVE_TORCH else []):
            ij = os.path.join(tmp, "info.json")
            p = subprocess.run([a.inrgan, "info", "--config", name, "--json", ij], capture_output=True, text=True)
            if p.returncode:
                fails.append("info --config %s: %s" % (name, p.stderr.strip()))
                continue
            c = json.load(open(ij))["config"]
            py = configs.builtin(name) if name in configs.BUILTIN_NAMES else cips_builtin(name)
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
