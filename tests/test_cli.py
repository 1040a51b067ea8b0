#!/usr/bin/python3
"""The `inrgan` command line: counting conventions, determinism, usage errors, exit codes.

usage: test_cli.py --inrgan PATH [--full]   (--full also exports the full-size FFHQ and
Churches configs with random weights and checks `inrgan info` against the reference counts)
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GOLDEN = os.path.join(HERE, "data", "golden_tiny.safetensors")
PY = "/usr/bin/python3"

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(cli, args, timeout=600):
    return subprocess.run([cli] + args, capture_output=True, text=True, timeout=timeout)


def export(config, path):
    subprocess.run([PY, "-m", "inrgan.export", "--config", config, "--seed", "0", "-o", path, "-q"],
                   check=True, cwd=os.path.join(ROOT, "python"), timeout=600)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", required=True)
    ap.add_argument("--full", action="store_true")
    a = ap.parse_args()
    cli = a.inrgan
    tmp = tempfile.mkdtemp(prefix="ig-cli-")
    try:
        # determinism: the same seeds give byte-identical PNGs from repeated runs
        outs = []
        for k in range(2):
            out = os.path.join(tmp, f"det{k}")
            p = run(cli, ["render", "-m", GOLDEN, "--seeds", "0-2,9", "-o", out, "--backend", "cpu", "-q"])
            check(p.returncode == 0, f"render run {k} exits 0 ({p.stderr.strip()})")
            outs.append(out)
        names = sorted(os.listdir(outs[0]))
        check(names == ["seed0000.png", "seed0001.png", "seed0002.png", "seed0009.png"], f"file names {names}")
        check(all(open(os.path.join(outs[0], n), "rb").read() == open(os.path.join(outs[1], n), "rb").read()
                  for n in names), "repeated renders give identical PNGs")
        check(open(os.path.join(outs[0], names[0]), "rb").read() != open(os.path.join(outs[0], names[1]), "rb").read(),
              "different seeds give different images")
        # batch and thread count do not change the bytes
        out = os.path.join(tmp, "batch")
        p = run(cli, ["render", "-m", GOLDEN, "--seeds", "0-2,9", "-o", out, "--backend", "cpu", "--batch", "3",
                      "--threads", "1", "-q"])
        check(p.returncode == 0 and all(open(os.path.join(out, n), "rb").read() ==
                                        open(os.path.join(outs[0], n), "rb").read() for n in names),
              "--batch 3 --threads 1 gives the same PNGs")
        # auto falls back to the CPU backend with one line saying so
        p = run(cli, ["render", "-m", GOLDEN, "--seeds", "0", "-o", os.path.join(tmp, "auto")])
        check(p.returncode == 0 and "CPU backend" in p.stderr, f"--backend auto says it uses the CPU: {p.stderr.strip()!r}")

        # any size: sizes the levels do not divide are padded and cropped
        out = os.path.join(tmp, "odd")
        p = run(cli, ["render", "-m", GOLDEN, "--seeds", "0", "--size", "33x20", "-o", out, "-q"])
        png = open(os.path.join(out, "seed0000-33x20.png"), "rb").read() if p.returncode == 0 else b""
        check(png[12:16] == b"IHDR" and int.from_bytes(png[16:20], "big") == 33 and
              int.from_bytes(png[20:24], "big") == 20, "--size 33x20 writes a 33x20 PNG")

        # --interp endpoints are the seed renders; interp/zoom sequences write frames and a strip
        out = os.path.join(tmp, "ip")
        ok = True
        for space in ("z", "w", "params"):
            for t, seed in (("0", 2), ("1", 9)):
                p = run(cli, ["render", "-m", GOLDEN, "--interp", "2,9", "--t", t, "--space", space, "-o", out, "-q"])
                name = "interp0002-0009_%s_t%.4f.png" % (space, float(t))
                ok = ok and p.returncode == 0 and open(os.path.join(out, name), "rb").read() == \
                    open(os.path.join(outs[0], "seed%04d.png" % seed), "rb").read()
        check(ok, "--interp 2,9 --t 0 / 1 equal the seed 2 / 9 renders in z, w and params space")
        out = os.path.join(tmp, "seq")
        p = run(cli, ["interp", "-m", GOLDEN, "--seeds", "1,2", "--frames", "3", "-o", out, "-q"])
        check(p.returncode == 0 and sorted(os.listdir(out))[:4] == ["frame0000.png", "frame0001.png", "frame0002.png",
                                                                    "frame0003.png"] and
              os.path.exists(os.path.join(out, "strip.png")), "interp writes frames and a contact strip")
        out = os.path.join(tmp, "zoom")
        p = run(cli, ["zoom", "-m", GOLDEN, "--center", "0.2,0.1", "--zoom", "0.5", "--zoom-to", "4", "--frames", "3",
                      "-o", out, "-q"])
        check(p.returncode == 0 and os.path.exists(os.path.join(out, "frame0002.png")), "zoom writes frames")

        # info and its JSON
        j = os.path.join(tmp, "info.json")
        p = run(cli, ["info", "-m", GOLDEN, "--json", j])
        check(p.returncode == 0 and "parameters:" in p.stdout, "info on the golden model")
        info = json.load(open(j))
        check(info["parameters"] > 0 and info["config"]["family"] == "inrgan", "info --json holds parameters and config")

        # usage and input errors: exit 2, one line, nothing written
        bad_z = os.path.join(tmp, "bad_z.npy")
        open(bad_z, "wb").write(b"\x93NUMPY\x01\x00" + b"x" * 20)
        cases = [
            (["render", "-m", GOLDEN, "--size", "0x32"], "--size"),
            (["render", "-m", GOLDEN, "--size", "abc"], "--size"),
            (["render", "-m", GOLDEN, "--size", "4000000x32"], "IG_ERR_SIZE"),
            (["render", "-m", GOLDEN, "--seeds", "3-1"], "IG_ERR_SEEDS"),
            (["render", "-m", GOLDEN, "--view", "1,0,0,1"], "IG_ERR_VIEW"),
            (["render", "-m", GOLDEN, "--view", "0,0,1"], "--view"),
            (["render", "-m", GOLDEN, "--zoom", "0"], "--zoom"),
            (["render", "-m", GOLDEN, "--view", "0,0,1,1", "--zoom", "2"], "not both"),
            (["render", "-m", GOLDEN, "--stride", "0"], "--stride"),
            (["render", "-m", GOLDEN, "--tile", "-3"], "--tile"),
            (["render", "-m", GOLDEN, "--interp", "1,2"], "--t"),
            (["render", "-m", GOLDEN, "--interp", "1,2,3", "--t", "0.5"], "IG_ERR_SEEDS"),
            (["render", "-m", GOLDEN, "--space", "u"], "--space"),
            (["render", "-m", GOLDEN, "--const-mode", "wrap"], "--const-mode"),
            (["render", "-m", GOLDEN, "--seeds", "x"], "IG_ERR_SEEDS"),
            (["render", "-m", GOLDEN, "--backend", "opencl"], "--backend"),
            (["render", "-m", GOLDEN, "--batch", "0"], "--batch"),
            (["render", "-m", GOLDEN, "--truncation", "nan"], "--truncation"),
            (["render", "-m", GOLDEN, "--z", bad_z], "IG_ERR_LATENT_FILE"),
            (["render", "-m", GOLDEN, "--z", os.path.join(tmp, "none.npy")], "IG_ERR_LATENT_FILE"),
            (["render", "-m", GOLDEN, "--seeds", "1", "--z", bad_z], "not both"),
            (["render", "-m", GOLDEN, "stray"], "unexpected argument"),
            (["frobnicate"], "unknown command"),
        ]
        for k, (args, expect) in enumerate(cases):
            out = os.path.join(tmp, f"err{k}")
            p = run(cli, args + ["-o", out] if args[0] == "render" else args)
            lines = [l for l in p.stderr.splitlines() if l.strip()]
            check(p.returncode == 2 and len(lines) >= 1 and expect in p.stderr and not os.path.exists(out),
                  f"{' '.join(args[3:] if args[0] == 'render' else args)} -> exit {p.returncode}: {p.stderr.strip()!r}")
        # wrong z width for the model
        z = os.path.join(tmp, "z.npy")
        np.save(z, np.zeros((2, 7), np.float32))
        p = run(cli, ["render", "-m", GOLDEN, "--z", z, "-o", os.path.join(tmp, "zw")])
        check(p.returncode == 2 and "IG_ERR_LATENT_FILE" in p.stderr, f"z of the wrong width: {p.stderr.strip()!r}")
        # runtime I/O failure: output path is a file -> exit 1, nothing written
        blocker = os.path.join(tmp, "blocker")
        open(blocker, "w").write("x")
        p = run(cli, ["render", "-m", GOLDEN, "--seeds", "0", "-o", blocker])
        check(p.returncode == 1 and "IG_ERR_OUTPUT" in p.stderr and open(blocker).read() == "x",
              f"output path is a file -> exit 1: {p.stderr.strip()!r}")

        # Vulkan from the CLI, on lavapipe (named with -g), validation on
        lvp = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"
        dev = run(cli, ["devices"])
        if os.path.exists(lvp) and "llvmpipe" in dev.stdout:
            env = dict(os.environ, VK_DRIVER_FILES=lvp)
            outs_vk = []
            for k in range(2):
                out = os.path.join(tmp, "vk%d" % k)
                p = subprocess.run([cli, "render", "-m", GOLDEN, "--seeds", "0-2,9", "--backend", "vulkan", "-g",
                                    "llvmpipe", "--validate", "--npy", "-o", out], capture_output=True, text=True,
                                   env=env, timeout=600)
                check(p.returncode == 0 and "validation=on" in p.stderr, "render --backend vulkan -g llvmpipe --validate "
                      "(%s)" % p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "")
                outs_vk.append(out)
            same = all(open(os.path.join(outs_vk[0], n), "rb").read() == open(os.path.join(outs_vk[1], n), "rb").read()
                       for n in names)
            check(same, "repeated Vulkan renders give identical PNGs")
            out = os.path.join(tmp, "cpu_npy")
            run(cli, ["render", "-m", GOLDEN, "--seeds", "0-2,9", "--backend", "cpu", "--npy", "-o", out, "-q"])
            err = max(float(np.abs(np.load(os.path.join(outs_vk[0], n[:-4] + ".npy")) -
                                   np.load(os.path.join(out, n[:-4] + ".npy"))).max()) for n in names)
            ref = max(float(np.abs(np.load(os.path.join(out, n[:-4] + ".npy"))).max()) for n in names)
            check(err <= 1e-4 * max(1.0, ref), "Vulkan vs CPU from the CLI: max abs %.2g (tolerance 1e-4 x max(1, %.3g))"
                  % (err, ref))
            p = subprocess.run([cli, "render", "-m", GOLDEN, "--seeds", "0", "--backend", "vulkan", "-o",
                                os.path.join(tmp, "novk")], capture_output=True, text=True, env=env)
            check(p.returncode == 2 and "IG_ERR_NO_DEVICE" in p.stderr and not os.path.exists(os.path.join(tmp, "novk")),
                  "--backend vulkan with only a CPU-type device and no -g is an error: %r" % p.stderr.strip())
            p = subprocess.run([cli, "render", "-m", GOLDEN, "--seeds", "0", "--backend", "vulkan", "-g", "nosuchgpu",
                                "-o", os.path.join(tmp, "novk")], capture_output=True, text=True, env=env)
            check(p.returncode == 2 and "IG_ERR_NO_DEVICE" in p.stderr, "-g nosuchgpu: %r" % p.stderr.strip())
        else:
            print("skip Vulkan CLI checks: no lavapipe")

        if a.full:
            for config, params, gflop in (("ffhq256", "72,436,573", "29.7"), ("churches256", "68,414,429", "25.4")):
                path = os.path.join(tmp, config + ".safetensors")
                export(config, path)
                p = run(cli, ["info", "-m", path])
                check(p.returncode == 0 and f"parameters:   {params}" in p.stdout
                      and f"model GFLOP per 256x256 image: {gflop}" in p.stdout,
                      f"info {config}: {params} parameters, {gflop} GFLOP")
                os.remove(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
