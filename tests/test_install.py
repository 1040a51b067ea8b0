#!/usr/bin/env python3
"""`cmake --install` of the current build into a temporary prefix, then the installed tree used
the way its users use it (README "Installing"):

  1. the layout: libinrgan.a, public headers only (include/inrgan/), the CLI, the viewer when
     built, share/inrgan/demo.safetensors (equal to assets/), inrgan.pc, the CMake package, and
     no shader files (the SPIR-V is compiled into the library);
  2. a 20-line consumer program built through pkg-config (plain and --static) and through
     find_package(inrgan) (a tiny CMake project), run: a built-in config's parameter count, and
     the installed demo model loaded with its count equal to what `inrgan info` prints;
  3. the installed `inrgan` finds share/inrgan/demo.safetensors on its own: `inrgan info` names
     it, and `inrgan render` with no -m runs with the source tree's assets/ hidden (an empty
     tmpfs mounted over it in a private mount namespace: `unshare -rm`; the shared tree is never
     renamed) and writes the same PNG bytes as the build tree's binary given -m assets/...;
  4. with the installed model removed too, one error line listing every place looked in,
     IG_ERR_MODEL_OPEN, exit 2, no output directory left;
  5. (Vulkan builds, lavapipe present) the installed CLI renders on Vulkan with the build
     tree's spv/ folder hidden as well.

Usage: test_install.py --build BUILD_DIR --source SOURCE_DIR --vulkan 0|1 --viewer 0|1
                       [--cflags "-fsanitize=..."]
The namespace parts (3b, 4, 5) are skipped with a note where unprivileged user namespaces are
not available; 3a (the path `inrgan info` resolves) is checked everywhere.
"""
import argparse
import filecmp
import glob
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

CONSUMER_C = r"""
#include <inrgan/inrgan.h>
#ifdef INRGAN_HAVE_VULKAN
#include <inrgan/ig_vk.h>
#endif
#include <stdio.h>
#include <stdlib.h>

/* argv[1]: a built-in config name; argv[2] (optional): a model file */
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char *json = ig_config_builtin(argv[1]);
    if (!json) { fprintf(stderr, "unknown config %s (%s)\n", argv[1], ig_config_builtin_names()); return 2; }
    ig_config cfg;
    ig_error err = {0};
    ig_result r = ig_config_from_json(json, &cfg, &err);
    free(json);
    if (r != IG_OK) { fprintf(stderr, "%s [%s]\n", err.msg, ig_result_name(r)); return 1; }
    printf("%s %lld\n", argv[1], (long long)ig_config_param_count(&cfg));
    if (argc > 2) {
        ig_model *m = NULL;
        if ((r = ig_model_load(argv[2], &m, &err)) != IG_OK) { fprintf(stderr, "%s [%s]\n", err.msg, ig_result_name(r)); return 1; }
        printf("model %lld\n", (long long)ig_config_param_count(ig_model_config(m)));
        ig_model_free(m);
    }
#ifdef INRGAN_HAVE_VULKAN
    printf("vulkan %s\n", ig_vk_device_type_name(2)); /* links the Vulkan backend */
#endif
    return 0;
}
"""

CONSUMER_CMAKE = """cmake_minimum_required(VERSION 3.20)
project(inrgan_consumer C)
find_package(inrgan 0.1 REQUIRED)
add_executable(consumer consumer.c)
target_link_libraries(consumer PRIVATE inrgan::inrgan)
"""

failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


def run(cmd, env=None, cwd=None, timeout=300):
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return r


def must(cmd, what, **kw):
    r = run(cmd, **kw)
    if r.returncode != 0:
        print(f"FAIL  {what}: exit {r.returncode}\n  $ {shlex.join(cmd)}\n{r.stdout}{r.stderr}", flush=True)
        failures.append(what)
        return None
    return r


def hidden(mounts, cmd):
    """cmd in a private user+mount namespace with an empty tmpfs over each of `mounts`."""
    script = "".join(f"mount -t tmpfs -o size=1m none {shlex.quote(m)} && " for m in mounts)
    return ["unshare", "-rm", "sh", "-c", script + "exec \"$@\"", "sh"] + cmd


def info_params(text):
    for line in text.splitlines():
        if line.startswith("parameters:"):
            return int(line.split(":", 1)[1].strip().replace(",", ""))
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--cflags", default="", help="extra compile+link flags (sanitizer builds)")
    ap.add_argument("--vulkan", type=int, choices=(0, 1), required=True, help="1: built with the Vulkan backend")
    ap.add_argument("--viewer", type=int, choices=(0, 1), required=True, help="1: inrgan-viewer was built")
    a = ap.parse_args()
    build, source = os.path.realpath(a.build), os.path.realpath(a.source)
    extra = shlex.split(a.cflags)
    assets_model = os.path.join(source, "assets", "demo.safetensors")
    built_viewer, vulkan = bool(a.viewer), bool(a.vulkan)

    tmp = tempfile.mkdtemp(prefix="inrgan-install-")
    try:
        prefix = os.path.join(tmp, "prefix")
        # ---- 1. install and layout ---------------------------------------------------------
        if not must(["cmake", "--install", build, "--prefix", prefix], "cmake --install into a temporary prefix"):
            return 1
        cli = os.path.join(prefix, "bin", "inrgan")
        check(os.access(cli, os.X_OK), "bin/inrgan installed")
        if built_viewer:
            check(os.access(os.path.join(prefix, "bin", "inrgan-viewer"), os.X_OK), "bin/inrgan-viewer installed")
        libs = glob.glob(os.path.join(prefix, "lib*", "**", "libinrgan.a"), recursive=True)
        check(len(libs) == 1, f"one libinrgan.a installed ({libs})")
        inc = os.path.join(prefix, "include", "inrgan")
        public = ["inrgan.h", "ig_result.h"] + (["ig_vk.h"] if vulkan else [])
        check(all(os.path.isfile(os.path.join(inc, h)) for h in public), f"public headers {public} installed")
        if not vulkan:
            check(not os.path.exists(os.path.join(inc, "ig_vk.h")), "no ig_vk.h in a build without Vulkan")
        installed_h = sorted(os.path.relpath(p, prefix) for p in glob.glob(os.path.join(prefix, "include", "**", "*.h"), recursive=True))
        src_public = [h for h in os.listdir(os.path.join(source, "include", "inrgan"))
                      if h.endswith(".h") and (vulkan or h != "ig_vk.h")]
        check(installed_h == sorted(os.path.join("include", "inrgan", h) for h in src_public),
              f"exactly include/inrgan/ installed, none of src/ (installed: {installed_h})")
        check(not glob.glob(os.path.join(source, "src", "**", "inrgan.h"), recursive=True)
              and not glob.glob(os.path.join(source, "src", "**", "ig_result.h"), recursive=True),
              "the public headers live only in include/inrgan/")
        demo = os.path.join(prefix, "share", "inrgan", "demo.safetensors")
        check(os.path.isfile(demo) and filecmp.cmp(demo, assets_model, shallow=False),
              "share/inrgan/demo.safetensors installed, equal to assets/demo.safetensors")
        spv = [p for p in glob.glob(os.path.join(prefix, "**", "*"), recursive=True) if p.endswith((".spv", ".comp"))]
        check(not spv, f"no shader files installed (SPIR-V is in the library): {spv}")
        pcs = glob.glob(os.path.join(prefix, "lib*", "**", "pkgconfig", "inrgan.pc"), recursive=True)
        cfgs = glob.glob(os.path.join(prefix, "lib*", "**", "cmake", "inrgan", "inrgan-config.cmake"), recursive=True)
        if not (check(len(pcs) == 1, "inrgan.pc installed") and check(len(cfgs) == 1, "CMake package installed")):
            return 1

        # the reference numbers, from the installed CLI
        r = must([cli, "info", "--config", "tiny-nearest"], "installed inrgan info --config tiny-nearest")
        want_builtin = info_params(r.stdout) if r else None
        r = must([cli, "info", "-m", demo], "installed inrgan info -m share/inrgan/demo.safetensors")
        want_demo = info_params(r.stdout) if r else None
        want = f"tiny-nearest {want_builtin}\nmodel {want_demo}\n" + ("vulkan discrete\n" if vulkan else "")

        # ---- 2. consumers ---------------------------------------------------------------------
        cdir = os.path.join(tmp, "consumer")
        os.makedirs(cdir)
        with open(os.path.join(cdir, "consumer.c"), "w") as f:
            f.write(CONSUMER_C)
        with open(os.path.join(cdir, "CMakeLists.txt"), "w") as f:
            f.write(CONSUMER_CMAKE)
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]))
        env.pop("PKG_CONFIG_LIBDIR", None)
        for static in (False, True):
            pc = must(["pkg-config", "--cflags", "--libs"] + (["--static"] if static else []) + ["inrgan"],
                      "pkg-config --cflags --libs inrgan", env=env)
            if not pc:
                continue
            exe = os.path.join(cdir, "pc_static" if static else "pc_plain")
            how = f"pkg-config{' --static' if static else ''} ({pc.stdout.strip()})"
            if must(["cc", "-std=c11", "-Wall", "-Werror", "consumer.c", "-o", exe] + extra + shlex.split(pc.stdout),
                    f"consumer builds through {how}", cwd=cdir):
                r = must([exe, "tiny-nearest", demo], f"consumer built through {how} runs")
                if r:
                    check(r.stdout == want, f"consumer (pkg-config{' --static' if static else ''}) prints the "
                          f"CLI's parameter counts: {r.stdout!r} == {want!r}")
        cbuild = os.path.join(cdir, "build")
        cflags = " ".join(extra)
        if must(["cmake", "-S", cdir, "-B", cbuild, f"-DCMAKE_PREFIX_PATH={prefix}", "-DCMAKE_BUILD_TYPE=Release",
                 f"-DCMAKE_C_FLAGS={cflags}", f"-DCMAKE_EXE_LINKER_FLAGS={cflags}"],
                "consumer configures with find_package(inrgan)") and \
           must(["cmake", "--build", cbuild], "consumer builds against inrgan::inrgan"):
            r = must([os.path.join(cbuild, "consumer"), "tiny-nearest", demo], "find_package consumer runs")
            if r:
                check(r.stdout == want, f"consumer (find_package) prints the CLI's parameter counts: {r.stdout!r} == {want!r}")

        # ---- 3. the installed CLI finds its own demo model ------------------------------------------
        r = must([cli, "info"], "installed inrgan info with no -m")
        if r:
            line = next((l for l in r.stdout.splitlines() if l.startswith("model:")), "")
            check(line.split(":", 1)[-1].strip() == demo, f"installed inrgan resolves the default model to {demo} ({line!r})")
        if built_viewer:
            r = run([os.path.join(prefix, "bin", "inrgan-viewer"), "--help"])
            check(r.returncode == 0 and demo in r.stdout, "installed inrgan-viewer --help names the installed demo model")

        ns = run(hidden([os.path.join(source, "assets")], ["ls", os.path.join(source, "assets")]))
        if ns.returncode != 0 or ns.stdout.strip():
            print(f"note  no private mount namespace here (unshare -rm: {ns.stderr.strip()}); "
                  "the hidden-assets runs are skipped", flush=True)
            return 1 if failures else 0
        out_inst, out_ref = os.path.join(tmp, "out-installed"), os.path.join(tmp, "out-ref")
        r = run(hidden([os.path.join(source, "assets")], [cli, "render", "--seeds", "3", "-o", out_inst, "-q"]))
        check(r.returncode == 0, f"installed inrgan render (no -m, source assets/ hidden) exits 0 ({r.stderr.strip()})")
        must([os.path.join(build, "inrgan"), "render", "-m", assets_model, "--seeds", "3", "-o", out_ref, "-q"],
             "build-tree inrgan render -m assets/demo.safetensors")
        a_png, b_png = os.path.join(out_inst, "seed0003.png"), os.path.join(out_ref, "seed0003.png")
        check(os.path.isfile(a_png) and os.path.isfile(b_png) and filecmp.cmp(a_png, b_png, shallow=False),
              "its PNG equals the build tree's render of assets/demo.safetensors byte for byte")

        # ---- 4. nothing to find: one line naming every place looked in ------------------------------
        os.remove(demo)
        out_none = os.path.join(tmp, "out-none")
        r = run(hidden([os.path.join(source, "assets")], [cli, "render", "--seeds", "0", "-o", out_none]))
        err = r.stderr.strip()
        configured = "/usr/local/share/inrgan/demo.safetensors"
        if os.path.exists(configured):
            print(f"note  {configured} exists on this machine; the not-found case is not checked", flush=True)
        else:
            check(r.returncode == 2 and len(err.splitlines()) == 1 and err.startswith("inrgan: error: ")
                  and err.endswith("[IG_ERR_MODEL_OPEN]") and demo in err and assets_model in err,
                  f"no demo model anywhere: exit 2, one IG_ERR_MODEL_OPEN line naming {demo} and {assets_model} "
                  f"(exit {r.returncode}: {err!r})")
            check(not os.path.exists(out_none), "no output directory left behind")

        # ---- 5. Vulkan from the installed binary, with the build's spv/ hidden --------------------------
        icd = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"
        if vulkan and os.path.exists(icd):
            venv = dict(os.environ, VK_DRIVER_FILES=icd, VK_ICD_FILENAMES=icd, INRGAN_PIPELINE_CACHE="0",
                        LP_NUM_THREADS="2")
            out_vk = os.path.join(tmp, "out-vk")
            tiny = os.path.join(source, "tests", "data", "golden_tiny.safetensors")
            r = run(hidden([os.path.join(build, "spv")], [cli, "render", "-m", tiny, "--backend", "vulkan", "-g",
                                                          "llvmpipe", "--seeds", "0", "-o", out_vk, "-q"]), env=venv)
            check(r.returncode == 0 and os.path.isfile(os.path.join(out_vk, "seed0000.png")),
                  f"installed inrgan renders on Vulkan (lavapipe) with build/spv hidden ({r.stderr.strip()})")
        elif vulkan:
            print("note  no lavapipe ICD: the installed Vulkan render is not checked", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(failures)} failure(s)" if failures else "all install checks passed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
