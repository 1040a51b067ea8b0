#!/usr/bin/env python3
"""inrgan-viewer end to end, headless: Xvfb + lavapipe + the Khronos validation layer.

A scripted session changes the view (zoom, pan, mouse wheel, drag, zoom-out into
extrapolation), the seed (command, N key, G digits Enter), the interpolation (step, space,
psi) and the render and window sizes (resize in the middle), and after each state writes a
screenshot and the `inrgan render` command that should reproduce it. Every screenshot must
equal, pixel for pixel, the PNG that command writes; the session must exit 0 with no
validation error. Smaller runs check --help, a bad script, an injected device loss, device
selection (lavapipe only when named) and a window read-back.

Exit 77 (skipped) when xvfb-run, the lavapipe ICD or the validation layer is missing.

usage: test_viewer.py --viewer BUILD/inrgan-viewer --inrgan BUILD/inrgan --model tests/data/golden_tiny.safetensors
       [--session-only]   (ctest viewer_cips: the same session on the CIPS fixture)
"""
import argparse
import glob
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

LVP_ICD = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"
# -noreset: without it the X server resets when the viewer disconnects and signals xvfb-run
# (SIGUSR1), which races with xvfb-run's clean-up under dash: "problem while cleaning up
# temporary directory", exit 5 instead of the viewer's status (7 of 150 runs; 0 with -noreset)
XVFB = ["xvfb-run", "-a", "-s", "-screen 0 1024x768x24 -noreset"]
LAYER_DIRS = ["/usr/share/vulkan/explicit_layer.d", "/etc/vulkan/explicit_layer.d",
              "/usr/local/share/vulkan/explicit_layer.d"]


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def read_png(path):
    """8-bit grey / RGB / RGBA PNG -> (width, height, RGB bytes). No third-party modules."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(path + ": not a PNG")
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or interlace or ctype not in (0, 2, 6):
        raise ValueError("%s: unsupported PNG (depth %d, colour type %d)" % (path, depth, ctype))
    bpp = {0: 1, 2: 3, 6: 4}[ctype]
    raw = zlib.decompress(idat)
    stride = w * bpp
    out = bytearray(h * stride)
    prev = bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        out[y * stride:(y + 1) * stride] = line
        prev = line
    if bpp == 3:
        return w, h, bytes(out)
    rgb = bytearray()
    for i in range(w * h):
        px = out[i * bpp:(i + 1) * bpp]
        rgb += bytes(px[:3]) if bpp == 4 else bytes([px[0]] * 3)
    return w, h, bytes(rgb)


class Runner:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.env = dict(os.environ)
        self.env.update({"VK_DRIVER_FILES": LVP_ICD, "VK_ICD_FILENAMES": LVP_ICD, "INRGAN_VALIDATE": "1",
                         "LP_NUM_THREADS": "2"})
        # ASan builds: lavapipe and the validation layer keep heap blocks referenced from their
        # globals after the loader unloads them, and the layer leaks a little itself. The viewer
        # pins both libraries (INRGAN_PIN_VULKAN_LIBS) so LeakSanitizer can name them, and their
        # leaks are suppressed; leak checking stays on for the viewer, GLFW and libinrgan.
        supp = os.path.join(work, "lsan.supp")
        with open(supp, "w") as f:
            f.write("leak:libVkLayer_khronos_validation.so\nleak:libvulkan_lvp.so\n")
        self.env["INRGAN_PIN_VULKAN_LIBS"] = "1"
        lsan = self.env.get("LSAN_OPTIONS", "")
        self.env["LSAN_OPTIONS"] = (lsan + ":" if lsan else "") + "suppressions=" + supp

    def viewer(self, *extra, script=None, timeout=600, model=None, gpu=("-g", "llvmpipe"), env=None):
        cmd = XVFB + [self.args.viewer, "-m", model or self.args.model] + list(gpu) + ["--validate", "--window", "400x300"]
        cmd += list(extra)
        if script is not None:
            path = os.path.join(self.work, "script%d.txt" % abs(hash(script)))
            with open(path, "w") as f:
                f.write(script)
            cmd += ["--script", path]
        run_env = dict(self.env, **(env or {}))
        p = subprocess.run(cmd, cwd=self.work, env=run_env, capture_output=True, text=True, timeout=timeout)
        return p


failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def compare_with_cli(r, args, name, shot, cmdfile, tag):
    """The screenshot equals the PNG of the `inrgan render` command the viewer printed."""
    line = open(cmdfile).read().strip()
    argv = shlex.split(line)
    out = os.path.join(r.work, "cli-" + tag)
    q = subprocess.run([args.inrgan] + argv[1:] + ["-o", out, "-q"], capture_output=True, text=True, env=r.env)
    pngs = glob.glob(os.path.join(out, "*.png"))
    if q.returncode != 0 or len(pngs) != 1:
        check(False, "%s: CLI ran (%s)" % (name, q.stderr.strip()))
        return line, argv
    a, b = read_png(shot), read_png(pngs[0])
    same = a == b
    if not same and a[:2] == b[:2]:
        diff = sum(1 for x, y in zip(a[2], b[2]) if x != y)
        print("     %d of %d bytes differ" % (diff, len(a[2])))
    check(same, "%s: screenshot %dx%d == `%s`" % (name, a[0], a[1], line))
    return line, argv


def session(r, args, backend=()):
    """backend: () = the default (the CPU backend renders, lavapipe presents), or
    ("--backend", "vulkan") = Vulkan renders on lavapipe too (the printed command pins -g and
    --precision)."""
    label = " [%s]" % " ".join(backend) if backend else " [default backend]"
    # state after state: each ends with a screenshot and the command reproducing it
    steps = [
        ("start: seed 7, psi 0.7", "size 64x64\npsi 0.7\nseed 7\nwait-render\n"),
        ("zoom 2 about (0.1, 0.2)", "zoom 2.0 at 0.1,0.2\n"),
        ("pan", "pan 0.1,0\n"),
        ("seed change", "seed 12\n"),
        ("interpolation step (z slerp)", "step 0.5\n"),
        ("window resize, params space", "resize 320x200\nspace params\n"),
        ("non-square render size, w lerp, step", "size 48x40\nspace w\nstep 0.25\n"),
        ("keys: N, I, psi up, G 4 2 Enter", "key N\nkey I\nkey .\nkey G 4 2 ENTER\n"),
        ("mouse wheel and drag", "scroll 2 at 120,90\ndrag 120,90 150,70\n"),
        ("zoom out: extrapolation", "zoom 0.25\n"),
        ("interpolation across a seed boundary", "step 0.75\nstep 0.5\nspace z\n"),
        ("render size key (Page Down), reset", "key PAGE_DOWN\nkey R\n"),
    ]
    tag = "vk" if backend else "cpu"
    script = ""
    for i, (_, text) in enumerate(steps):
        script += text + "screenshot %s-shot%02d.png\nprint-command %s-cmd%02d.txt\n" % (tag, i, tag, i)
    script += "window-screenshot %s-window.png\nprint-command\n" % tag
    # the loader's own log of layer set-up: one "vkCreateInstance layer callstack" line per
    # VkInstance and one "Inserted device layer" line per VkDevice of the process
    p = r.viewer(*backend, script=script, env={"VK_LOADER_DEBUG": "layer"})
    sys.stderr.write("\n".join(l for l in p.stderr.splitlines() if "LAYER:" not in l) + "\n")
    n_inst = p.stderr.count("vkCreateInstance layer callstack setup")
    n_dev = sum(1 for l in p.stderr.splitlines() if "Inserted device layer" in l and "khronos_validation" in l)
    check("inrgan-viewer: vulkan instances created: 1\n" in p.stderr and n_inst == 1,
          "%s: one VkInstance (the viewer counts 1; the loader log shows %d)" % (label.strip(), n_inst))
    check(n_dev == 1, "%s: one VkDevice (the loader log shows %d)" % (label.strip(), n_dev))
    check(p.returncode == 0, "scripted session%s exits 0 (got %d)" % (label, p.returncode))
    want = "rendering with Vulkan" if backend else "rendering with the CPU backend"
    check(want in p.stderr, "%s: the viewer says it is %s" % (label.strip(), want))
    # Vulkan on the presenting device: renders stay on the device (ig_vk_render_device +
    # viewer/to_rgba8.comp); the CPU backend's images are uploaded from the host
    zero_copy = "inrgan-viewer: present: device (no host copy)" in p.stderr
    m = re.search(r"images presented: (\d+) from the device, (\d+) from the host", p.stderr)
    n_dev, n_host = (int(m.group(1)), int(m.group(2))) if m else (-1, -1)
    check(zero_copy == bool(backend) and ((n_dev > 0 and n_host == 0) if backend else (n_dev == 0 and n_host > 0)),
          "%s: zero-copy presentation %s (images from the device %d, from the host %d)"
          % (label.strip(), "on for every image" if backend else "off", n_dev, n_host))
    check("inrgan-viewer: validation: 0 errors" in p.stderr, "validation layer on and reported 0 errors")
    check("validation error" not in p.stderr, "no validation error messages")
    check(any(l.startswith("inrgan render ") for l in p.stdout.splitlines()), "print-command without a file writes stdout")
    cmds = []
    for i, (name, _) in enumerate(steps):
        name += label
        shot = os.path.join(r.work, "%s-shot%02d.png" % (tag, i))
        cmdfile = os.path.join(r.work, "%s-cmd%02d.txt" % (tag, i))
        if not (os.path.exists(shot) and os.path.exists(cmdfile)):
            check(False, "%s: screenshot and command written" % name)
            continue
        line, argv = compare_with_cli(r, args, name, shot, cmdfile, "%s%02d" % (tag, i))
        cmds.append(line)
        pinned_backend = ("--backend" in argv and
                          (("vulkan" in argv and "-g" in argv and "--precision" in argv) if backend else "cpu" in argv))
        check(argv[:2] == ["inrgan", "render"] and pinned_backend and "--view" in argv
              and "--size" in argv and "--truncation" in argv and "-m" in argv, "%s: command pins its options" % name)
    check(len(set(cmds)) == len(cmds), "every state has its own command")
    joined = "\n".join(cmds)
    check("--interp" in joined and "--space params" in joined and "--space w" in joined,
          "interpolation states print --interp/--space")
    check(any("--seeds 42" in c for c in cmds), "G 4 2 Enter went to seed 42")
    win = os.path.join(r.work, "%s-window.png" % tag)
    if os.path.exists(win):
        w, h, rgb = read_png(win)
        check((w, h) == (320, 200), "window read-back has the resized window's size (%dx%d)" % (w, h))
        check(len(set(rgb[i:i + 3] for i in range(0, len(rgb), 3))) > 16, "window read-back shows an image")
    else:
        check(False, "window-screenshot written")


def small_runs(r, args):
    p = subprocess.run([args.viewer, "--help"], capture_output=True, text=True)
    check(p.returncode == 0 and "mouse wheel" in p.stdout and "print the `inrgan render` command" in p.stdout,
          "--help exits 0 and lists the key bindings")

    p = r.viewer(script="size 64x64\nzoom two\n")
    check(p.returncode == 2 and ":2:" in p.stderr, "a bad script line is refused with FILE:LINE, exit 2")

    p = r.viewer(script="size 32x32\nwait-render\ndevice-lost\nframes 3\n")
    check(p.returncode == 1 and "VK_ERROR_DEVICE_LOST" in p.stderr and "IG_ERR_DEVICE_LOST" in p.stderr,
          "device loss is reported cleanly, exit 1")
    check("inrgan-viewer: validation: 0 errors" in p.stderr, "teardown after device loss is validation-clean")

    cmd = XVFB + [args.viewer, "-m", args.model, "--exit-after", "3"]
    p = subprocess.run(cmd + ["--validate"], cwd=r.work, env=r.env, capture_output=True, text=True, timeout=300)
    check(p.returncode == 0 and "presenting on llvmpipe" in p.stderr and "no GPU can present" in p.stderr
          and "rendering with the CPU backend" in p.stderr and "validation: 0 errors" in p.stderr,
          "without a GPU and without -g, lavapipe presents and the CPU backend renders (exit 0): %r" % p.stderr.strip())
    p = subprocess.run(cmd + ["-g", "llvmpipe", "--backend", "cpu"], cwd=r.work, env=r.env, capture_output=True,
                       text=True, timeout=300)
    check(p.returncode == 0 and "rendering with the CPU backend" in p.stderr,
          "-g llvmpipe --backend cpu is accepted (exit 0): %r" % p.stderr.strip())
    p = subprocess.run(cmd + ["-g", "llvmpipe", "--backend", "cpu", "--precision", "fp16"], cwd=r.work, env=r.env,
                       capture_output=True, text=True, timeout=300)
    check(p.returncode == 2 and "fp32" in p.stderr, "--backend cpu --precision fp16: exit 2 (%r)" % p.stderr.strip())
    p = subprocess.run(cmd + ["-g", "no-such-gpu"], cwd=r.work, env=r.env, capture_output=True, text=True, timeout=300)
    check(p.returncode == 2 and "no-such-gpu" in p.stderr, "-g with an unknown name: exit 2")
    p = subprocess.run(cmd + ["-g", "0", "--render-size", "40x24", "--validate"], cwd=r.work, env=r.env,
                       capture_output=True, text=True, timeout=300)
    check(p.returncode == 0 and "validation: 0 errors" in p.stderr, "-g 0 and --exit-after 3: exit 0, validation-clean")


def option_values(r, args):
    """Numeric option values and script numbers go through src/ig_parse.h: the full range is
    checked, nothing wraps around, trailing junk is refused; exit 2 before any window opens."""
    bad = [("--render-size", "4294967360x4294967360", "IG_ERR_SIZE"),
           ("--render-size", "64x64junk", "IG_ERR_USAGE"),
           ("--render-size", "99999999999x64", "IG_ERR_SIZE"),
           ("--window", "400x300x", "IG_ERR_USAGE"),
           ("--threads", "2junk", "IG_ERR_USAGE"),
           ("--threads", "4294967298", "IG_ERR_USAGE"),
           ("--exit-after", "4294967298", "IG_ERR_USAGE"),
           ("--truncation", "0.7x", "IG_ERR_USAGE"),
           ("--speed", "65", "IG_ERR_USAGE"),
           ("--zoom", "0", "IG_ERR_USAGE"),
           ("--view", "0,0,0,0", "IG_ERR_VIEW"),
           ("--center", "1,2,3", "IG_ERR_USAGE")]
    for opt, val, tag in bad:
        p = subprocess.run([args.viewer, "-m", args.model, opt, val], capture_output=True, text=True, timeout=60)
        line = p.stderr.strip()
        check(p.returncode == 2 and tag in line and val in line and line.count("\n") == 0,
              "%s %s: exit 2, one line with %s echoing the value (%r)" % (opt, val, tag, line))
    for text, what in (("size 4294967360x64\n", "size wrap-around"), ("frames 2junk\n", "frames junk"),
                       ("seed 4294967296\n", "seed out of range"), ("zoom 2 at 0.1,0.2,0.3\n", "zoom point")):
        p = r.viewer(script="wait-render\n" + text)
        check(p.returncode == 2 and ":2:" in p.stderr, "script line refused (%s): exit 2 with FILE:LINE (%r)"
              % (what, p.stderr.strip()))


def export_full_size(work):
    """An FFHQ-256-size model (72 M parameters, random weights) written by the Python exporter;
    None when torch is missing."""
    path = os.path.join(work, "ffhq256.safetensors")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        subprocess.run(["/usr/bin/python3", "-c", "import numpy, torch"], check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError):
        return None
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    subprocess.run(["/usr/bin/python3", "-m", "inrgan.export", "--config", "ffhq256", "--seed", "0", "-o", path, "-q"],
                   check=True, cwd=os.path.join(root, "python"), env=env, timeout=300)
    return path


def full_size(r, args):
    """The acceptance run of a machine without a GPU: lavapipe is the only Vulkan device; the
    viewer, given nothing but -m and a full-size model, presents through lavapipe, renders with
    the CPU backend, and its screenshots equal the `inrgan render` commands it prints."""
    model = export_full_size(r.work)
    if model is None:
        skip("numpy/torch missing: cannot export the FFHQ-256-size model")
    steps = [("full-size model, default view", "wait-render\n"),
             ("full-size model, zoomed, between two seeds", "zoom 1.6 at 0.2,0.1\nstep 0.4\n")]
    script = ""
    for i, (_, text) in enumerate(steps):
        script += text + "screenshot full%d.png\nprint-command full%d.txt\n" % (i, i)
    script += "window-screenshot full-window.png\n"
    p = r.viewer(script=script, model=model, gpu=())
    sys.stderr.write(p.stderr)
    check(p.returncode == 0, "full-size model, no -g, no --backend: exit 0 (got %d)" % p.returncode)
    check("presenting on llvmpipe" in p.stderr and "rendering with the CPU backend" in p.stderr,
          "lavapipe presents, the CPU backend renders")
    check("validation: 0 errors" in p.stderr, "validation-clean")
    for i, (name, _) in enumerate(steps):
        shot, cmdfile = os.path.join(r.work, "full%d.png" % i), os.path.join(r.work, "full%d.txt" % i)
        if not (os.path.exists(shot) and os.path.exists(cmdfile)):
            check(False, "%s: screenshot and command written" % name)
            continue
        line, argv = compare_with_cli(r, args, name, shot, cmdfile, "full%d" % i)
        check(argv[:4] == ["inrgan", "render", "--backend", "cpu"] and "256x256" in argv,
              "%s: the command says --backend cpu at 256x256" % name)
    check(os.path.exists(os.path.join(r.work, "full-window.png")), "window read-back written")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--viewer", required=True)
    ap.add_argument("--inrgan", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--keep", help="keep the files in this folder")
    ap.add_argument("--session-only", action="store_true",
                    help="only the scripted sessions, CPU and Vulkan (another model family; the small runs test the viewer itself)")
    ap.add_argument("--full-size", action="store_true",
                    help="only the acceptance run with an FFHQ-256-size model (exported at test time)")
    args = ap.parse_args()
    if not os.path.exists(args.viewer):
        skip("inrgan-viewer was not built (GLFW / volk missing)")
    if not shutil.which("xvfb-run") or not shutil.which("xauth"):
        skip("xvfb-run / xauth not installed")
    if not os.path.exists(LVP_ICD):
        skip("lavapipe ICD not installed (" + LVP_ICD + ")")
    if not any(os.path.exists(os.path.join(d, "VkLayer_khronos_validation.json")) for d in LAYER_DIRS):
        skip("Khronos validation layer not installed")
    args.viewer = os.path.abspath(args.viewer)
    args.inrgan = os.path.abspath(args.inrgan)
    args.model = os.path.abspath(args.model)
    work = args.keep or tempfile.mkdtemp(prefix="inrgan-viewer-test-")
    os.makedirs(work, exist_ok=True)
    r = Runner(args, work)
    try:
        if args.full_size:
            full_size(r, args)
        else:
            session(r, args)
            session(r, args, ("--backend", "vulkan"))  # zero-copy presentation (both families)
            if not args.session_only:
                small_runs(r, args)
                option_values(r, args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all viewer checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
