#!/usr/bin/env python3
"""The shader compiler and the gated shader variants (docs/building.md, src/vk/vk.cmake).

variants: what this build's configure decided is what the binary says (`inrgan devices --json`,
  "shaders"); every probe that said yes and every gated variant built passes spirv-val again;
  with the private toolchain (scripts/toolchain.sh) all four probes say yes and no gated variant
  is compiled out. Exit 77 (skipped) only for the last part when the build uses another compiler.
system: a second build of the `inrgan` target with Debian 12's own glslang (-DIG_GLSLANG=
  /usr/bin/glslangValidator) configures with the KHR coopmat, NV coopmat2 and NV cooperative
  vector probes saying no and the variants that need them compiled out (configure lines), builds,
  lists them as not built, refuses their pipelines with IG_ERR_UNSUPPORTED (test_vk_gated), and
  renders the golden model on lavapipe (validation on) to the same bytes as this build. Cost: one extra configure + build of the library and CLI (its build
  folder is kept, so reruns are incremental).
"""
import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "data", "golden_tiny.safetensors")
LVP = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"
PROBES = {  # requirement -> (probe, target env, extension); as in src/vk/vk.cmake
    "KHR_COOPMAT": ("khr_coopmat", "vulkan1.2", "GL_KHR_cooperative_matrix"),
    "NV_COOPMAT": ("nv_coopmat", "vulkan1.2", "GL_NV_cooperative_matrix"),
    "NV_COOPMAT2": ("nv_coopmat2", "vulkan1.3", "GL_NV_cooperative_matrix2"),
    "NV_COOPVEC": ("nv_coopvec", "vulkan1.2", "GL_NV_cooperative_vector"),
}
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)
    return cond


def gated_lines(src_root):
    """[(name, requirement)] of the IG_SHADER_REQ lines of src/vk/vk_shaders.def."""
    out = []
    with open(os.path.join(src_root, "src", "vk", "vk_shaders.def")) as f:
        for line in f:
            m = re.match(r'^IG_SHADER_REQ\([A-Z0-9_]+, ([a-z0-9_]+), "[^"]+", "[^"]*", ([A-Z0-9_]+)\)$', line.strip())
            if m:
                out.append((m.group(1), m.group(2)))
    return out


def devices_json(inrgan):
    env = dict(os.environ, VK_DRIVER_FILES=LVP, VK_ICD_FILENAMES=LVP)
    p = subprocess.run([inrgan, "devices", "--json", "-"], capture_output=True, text=True, env=env, timeout=120)
    if not check(p.returncode == 0, "inrgan devices --json - exits 0 (%s)" % p.stderr.strip()):
        return None
    return json.loads(p.stdout)


def cmake_cache(build):
    vals = {}
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        for line in f:
            m = re.match(r"^([A-Za-z0-9_]+):[A-Z]+=(.*)$", line.rstrip("\n"))
            if m:
                vals[m.group(1)] = m.group(2)
    return vals


def spirv_val(spirv_val_bin, env, spv):
    p = subprocess.run([spirv_val_bin, "--target-env", env, spv], capture_output=True, text=True)
    return p.returncode == 0, (p.stdout + p.stderr).strip()


def cmd_variants(a):
    cache = cmake_cache(a.build)
    glslang, val = cache.get("IG_GLSLANG", ""), cache.get("IG_SPIRV_VAL", "")
    gated = gated_lines(a.source)
    check(len(gated) >= 1, "vk_shaders.def has at least one IG_SHADER_REQ variant (%d)" % len(gated))
    # which probes said yes: their SPIR-V is in build/probes and passes spirv-val
    yes = set()
    for req, (probe, env, ext) in PROBES.items():
        spv = os.path.join(a.build, "probes", probe + ".spv")
        if os.path.exists(spv) and spirv_val(val, env, spv)[0]:
            yes.add(req)
    # the binary reports the same decision per gated variant
    d = devices_json(a.inrgan)
    if d is not None:
        rep = {g["name"]: g for g in d.get("shaders", {}).get("gated", [])}
        check(set(rep) == {n for n, _ in gated}, "devices --json lists exactly the gated variants (%s)" % sorted(rep))
        for name, req in gated:
            g = rep.get(name)
            if not g:
                continue
            want = req in yes
            check(g["built"] == want and (g["spirv_bytes"] > 0) == want and g["requires"] == PROBES[req][2],
                  "%s: built=%s, %d bytes, requires %s (probe %s)" % (name, g["built"], g["spirv_bytes"],
                                                                     g["requires"], "yes" if want else "no"))
            spv = os.path.join(a.build, "spv", name + ".spv")
            if want:
                ok, msg = spirv_val(val, PROBES[req][1], spv) if os.path.exists(spv) else (False, "no " + spv)
                check(ok, "%s.spv passes spirv-val --target-env %s %s" % (name, PROBES[req][1], msg))
        check(d["shaders"].get("compiler", "").startswith("glslang "), "compiler named: %r" % d["shaders"].get("compiler"))
    # with the private toolchain, everything is built
    private = os.path.realpath(a.private_dir) if a.private_dir else ""
    if not private or not os.path.realpath(glslang).startswith(private + os.sep):
        print("skip: the private-toolchain checks (this build's compiler is %s, not %s/bin)" % (glslang, a.private_dir))
        return 1 if FAILS else 77
    check(yes == set(PROBES), "private toolchain: every probe builds and validates (%s)" % sorted(yes))
    if d is not None:
        check(all(g["built"] for g in d["shaders"]["gated"]), "private toolchain: no gated variant compiled out")
    return 1 if FAILS else 0


def render(inrgan, out):
    env = dict(os.environ, VK_DRIVER_FILES=LVP, VK_ICD_FILENAMES=LVP)
    p = subprocess.run([inrgan, "render", "-m", GOLDEN, "--seeds", "0,3", "--backend", "vulkan", "-g", "llvmpipe",
                        "--validate", "--npy", "-o", out], capture_output=True, text=True, env=env, timeout=600)
    check(p.returncode == 0 and "validation=on" in p.stderr,
          "%s render on lavapipe, validation on (%s)" % (inrgan, p.stderr.strip().splitlines()[-1:] or ""))
    return {n: open(os.path.join(out, n), "rb").read() for n in sorted(os.listdir(out))} if os.path.isdir(out) else {}


def cmd_system(a):
    glslang, val = "/usr/bin/glslangValidator", "/usr/bin/spirv-val"
    if not (os.path.exists(glslang) and os.path.exists(val) and os.path.exists(LVP)):
        print("skip: needs Debian 12's glslang-tools, spirv-tools and lavapipe (scripts/setup.sh)")
        return 77
    v = subprocess.run([glslang, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"Glslang Version: [0-9]+:([0-9]+)", v)
    if not m or int(m.group(1)) >= 15:
        print("skip: %s is not Debian 12's glslang 12 (%r)" % (glslang, v.splitlines()[:1]))
        return 77
    sub = os.path.join(a.build, "toolchain-system")
    p = subprocess.run(["cmake", "-S", a.source, "-B", sub, "-DCMAKE_BUILD_TYPE=Release",
                        "-DIG_GLSLANG=" + glslang, "-DIG_SPIRV_VAL=" + val],
                       capture_output=True, text=True, timeout=600)
    if not check(p.returncode == 0, "configure with %s" % glslang):
        print(p.stdout[-3000:] + p.stderr[-3000:])
        return 1
    conf = p.stdout
    ver = subprocess.run([glslang, "--version"], capture_output=True, text=True).stdout
    for req in ("KHR_COOPMAT", "NV_COOPMAT2", "NV_COOPVEC"):
        ext = PROBES[req][2]
        check(re.search(r"inrgan: %s: no: .*cannot build it; variants that need it are compiled out" % ext, conf)
              is not None, "configure with Debian 12's glslang says %s: no" % ext)
    out_names = [n for n, req in gated_lines(a.source) if req in ("KHR_COOPMAT", "NV_COOPMAT2", "NV_COOPVEC")]
    for n in out_names:
        check(re.search(r"inrgan: shader variant %s \(.*\) compiled out: needs " % n, conf) is not None,
              "configure says %s is compiled out" % n)
    jobs = os.environ.get("IG_TEST_JOBS", "2")
    p = subprocess.run(["nice", "cmake", "--build", sub, "-j" + jobs, "--target", "inrgan", "test_vk_gated"],
                       capture_output=True, text=True, timeout=1500)
    if not check(p.returncode == 0, "build of the inrgan and test_vk_gated targets with %s" % glslang):
        print(p.stdout[-4000:] + p.stderr[-4000:])
        return 1
    sys_inrgan = os.path.join(sub, "inrgan")
    d = devices_json(sys_inrgan)
    if d is not None:
        rep = {g["name"]: g for g in d["shaders"]["gated"]}
        for n in out_names:
            check(n in rep and not rep[n]["built"] and rep[n]["spirv_bytes"] == 0, "%s reported as not built" % n)
        check(d["shaders"]["compiler"] == "glslang " + re.search(r"Glslang Version: [0-9]+:([0-9.]+)", ver).group(1),
              "compiler reported as %r" % d["shaders"]["compiler"])
    # creating a compiled-out variant's pipeline: IG_ERR_UNSUPPORTED naming it, no crash
    env = dict(os.environ, VK_DRIVER_FILES=LVP, VK_ICD_FILENAMES=LVP)
    p = subprocess.run([os.path.join(sub, "test_vk_gated")], capture_output=True, text=True, env=env, timeout=300)
    check(p.returncode == 0 and all("gated %s (" % n in p.stdout and "%s is not in this build" % n in p.stdout
                                    for n in out_names),
          "test_vk_gated in that build: %s" % (p.stdout + p.stderr).strip().replace("\n", " | "))
    tmp = os.path.join(sub, "smoke")
    subprocess.run(["rm", "-rf", tmp])
    a_img = render(a.inrgan, os.path.join(tmp, "main"))
    b_img = render(sys_inrgan, os.path.join(tmp, "system"))
    check(a_img and a_img == b_img, "the two builds render the same bytes (%d files)" % len(a_img))
    subprocess.run(["rm", "-rf", tmp])
    return 1 if FAILS else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["variants", "system"])
    ap.add_argument("--inrgan", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--private-dir", default="")
    a = ap.parse_args()
    rc = cmd_variants(a) if a.mode == "variants" else cmd_system(a)
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
    return rc


if __name__ == "__main__":
    sys.exit(main())
