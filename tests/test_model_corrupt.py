#!/usr/bin/python3
"""Malformed-input corpus: every defect must give its own named error, exit code 2, one line on
stderr, no crash and no output file.

usage: test_model_corrupt.py --inrgan PATH --model VALID.safetensors

Each defect is built from a valid model by editing its bytes or header; the same binary then
runs `inrgan render` (into a fresh output directory) and `inrgan info`. A valid model and an
unaligned/fp16 rewrite of it are positive controls (exit 0), so the harness cannot pass by
refusing everything.
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np


def split(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    return header, raw[8 + n:]


def build(header, data):
    text = header if isinstance(header, (bytes, str)) else json.dumps(header)
    if isinstance(text, str):
        text = text.encode()
    return struct.pack("<Q", len(text)) + text + data


def tensor_names(header):
    return [k for k in header if k != "__metadata__"]


def defects(header, data):
    """Yields (name, expected error, file bytes)."""
    cfg = json.loads(header["__metadata__"]["inrgan"])
    names = tensor_names(header)
    first = names[0]
    weight = next(k for k in names if k.endswith("conv1.weight"))

    def edit(fn):
        h = json.loads(json.dumps(header))
        fn(h)
        return build(h, data)

    def edit_cfg(fn):
        c = json.loads(json.dumps(cfg))
        fn(c)
        return edit(lambda h: h["__metadata__"].__setitem__("inrgan", json.dumps(c)))

    yield "empty file", "IG_ERR_MODEL_TRUNCATED", b""
    yield "five bytes", "IG_ERR_MODEL_TRUNCATED", b"\x10\x00\x00\x00\x00"
    full = build(header, data)
    yield "header length beyond file", "IG_ERR_MODEL_HEADER_SIZE", struct.pack("<Q", len(full) * 2) + full[8:]
    yield "header length zero", "IG_ERR_MODEL_HEADER_SIZE", struct.pack("<Q", 0) + full[8:]
    yield "header length 2^63", "IG_ERR_MODEL_HEADER_SIZE", struct.pack("<Q", 1 << 63) + full[8:]
    yield "header not JSON", "IG_ERR_MODEL_HEADER_JSON", build(b"{not json" + b" " * 40, data)
    yield "header is a JSON array", "IG_ERR_MODEL_HEADER_JSON", build(b"[1, 2, 3]", data)
    yield "entry without dtype", "IG_ERR_MODEL_HEADER_ENTRY", edit(lambda h: h[first].pop("dtype"))
    yield "entry with one offset", "IG_ERR_MODEL_HEADER_ENTRY", edit(lambda h: h[first].__setitem__("data_offsets", [0]))
    yield "dtype BF16", "IG_ERR_MODEL_DTYPE", edit(lambda h: h[first].__setitem__("dtype", "BF16"))
    yield "dtype I64", "IG_ERR_MODEL_DTYPE", edit(lambda h: h[first].__setitem__("dtype", "I64"))
    yield "negative dimension", "IG_ERR_MODEL_SHAPE", edit(lambda h: h[first]["shape"].__setitem__(0, -1))
    yield "fractional dimension", "IG_ERR_MODEL_SHAPE", edit(lambda h: h[first]["shape"].__setitem__(0, 1.5))
    yield "absurd dimension 2^50", "IG_ERR_MODEL_SHAPE", edit(lambda h: h[first]["shape"].__setitem__(0, 2 ** 50))
    yield "nine dimensions", "IG_ERR_MODEL_SHAPE", edit(lambda h: h[first].__setitem__("shape", [1] * 9))
    yield "element count overflow", "IG_ERR_MODEL_SHAPE", edit(
        lambda h: h[first].__setitem__("shape", [2 ** 39, 2 ** 39, 2 ** 39]))
    yield "shape disagrees with byte range", "IG_ERR_MODEL_BYTE_SIZE", edit(
        lambda h: h[weight]["shape"].__setitem__(0, h[weight]["shape"][0] + 1))
    yield "range beyond data section", "IG_ERR_MODEL_RANGE", edit(
        lambda h: h[first].__setitem__("data_offsets", [len(data) - 4, len(data) + 4 * int(np.prod(h[first]["shape"])) - 4]))
    yield "begin after end", "IG_ERR_MODEL_RANGE", edit(
        lambda h: h[first].__setitem__("data_offsets", [h[first]["data_offsets"][1], h[first]["data_offsets"][0]]))
    yield "data section truncated", "IG_ERR_MODEL_RANGE", build(header, data[: len(data) // 2])

    def overlap(h):
        a, b = [k for k in names if h[k]["dtype"] == "F32" and h[k]["shape"] == h[weight]["shape"]][:2] \
            if sum(1 for k in names if h[k]["shape"] == h[weight]["shape"]) >= 2 else (None, None)
        if a is None:  # shift one tensor half-way into its neighbour
            k0, k1 = names[0], names[1]
            o0 = h[k0]["data_offsets"]
            size1 = h[k1]["data_offsets"][1] - h[k1]["data_offsets"][0]
            h[k1]["data_offsets"] = [o0[0], o0[0] + size1]
        else:
            h[b]["data_offsets"] = list(h[a]["data_offsets"])
    yield "overlapping tensors", "IG_ERR_MODEL_OVERLAP", edit(overlap)

    text = json.dumps(header)
    entry = json.dumps({first: header[first]})[1:-1]
    dup = text[:-1] + ", " + entry + "}"
    yield "duplicate tensor name", "IG_ERR_MODEL_DUPLICATE", build(dup, data)
    # the header reader's own syntax rules (src/safetensors.c)
    yield "text after the header object", "IG_ERR_MODEL_HEADER_JSON", build(text + " x", data)
    yield "\\u0000 in a tensor name", "IG_ERR_MODEL_HEADER_JSON", build(
        text[:-1] + ', "a\\u0000b": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}', data)
    yield "lone surrogate in a name", "IG_ERR_MODEL_HEADER_JSON", build(
        text[:-1] + ', "a\\ud800": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}', data)
    yield "values nested 65 deep", "IG_ERR_MODEL_HEADER_JSON", build(
        text[:-1] + ', "x": ' + "[" * 65 + "]" * 65 + "}", data)
    yield "entry key given twice", "IG_ERR_MODEL_HEADER_ENTRY", build(
        text.replace('"dtype": ', '"dtype": "F32", "dtype": ', 1), data)
    yield "__metadata__ twice", "IG_ERR_MODEL_METADATA", build(
        text[:-1] + ', "__metadata__": {}}', data)
    yield "metadata value not a string", "IG_ERR_MODEL_METADATA", edit(
        lambda h: h["__metadata__"].__setitem__("note", 5))
    yield "metadata not an object", "IG_ERR_MODEL_METADATA", edit(lambda h: h.__setitem__("__metadata__", "x"))
    yield "no inrgan config", "IG_ERR_MODEL_NO_CONFIG", edit(lambda h: h["__metadata__"].pop("inrgan"))
    yield "config not JSON", "IG_ERR_MODEL_CONFIG_JSON", edit(
        lambda h: h["__metadata__"].__setitem__("inrgan", "{rank: 10"))
    yield "config missing rank", "IG_ERR_MODEL_CONFIG_FIELD", edit_cfg(lambda c: c.pop("rank"))
    yield "config rank is a string", "IG_ERR_MODEL_CONFIG_FIELD", edit_cfg(lambda c: c.__setitem__("rank", "10"))
    yield "config rank zero", "IG_ERR_MODEL_CONFIG_VALUE", edit_cfg(lambda c: c.__setitem__("rank", 0))
    yield "config upsampling bicubic", "IG_ERR_MODEL_CONFIG_VALUE", edit_cfg(
        lambda c: c.__setitem__("upsampling", "bicubic"))
    yield "config absurd channels", "IG_ERR_MODEL_CONFIG_VALUE", edit_cfg(
        lambda c: c["blocks"][0].__setitem__("channels", 10 ** 9))
    yield "format version 2", "IG_ERR_MODEL_VERSION", edit_cfg(lambda c: c.__setitem__("format_version", 2))
    yield "family cips", "IG_ERR_MODEL_FAMILY", edit_cfg(lambda c: c.__setitem__("family", "stylegan9"))
    yield "grid jumps 4x", "IG_ERR_MODEL_STRUCTURE", edit_cfg(
        lambda c: c["blocks"][-1].__setitem__("grid", c["blocks"][-2]["grid"] * 4))
    yield "doubling block without embedding", "IG_ERR_MODEL_STRUCTURE", edit_cfg(
        lambda c: c["blocks"][-1].pop("embedding"))
    yield "missing tensor w_avg", "IG_ERR_MODEL_MISSING_TENSOR", edit(lambda h: h.pop("mapping.w_avg"))

    def extra(h):
        h["synthesis.b4.conv9.weight"] = dict(h[first])
        h["synthesis.b4.conv9.weight"]["data_offsets"] = [0, 0]
        h["synthesis.b4.conv9.weight"]["shape"] = [0]
    yield "unexpected tensor", "IG_ERR_MODEL_UNEXPECTED_TENSOR", edit(extra)

    def transpose(h):
        s = h[weight]["shape"]
        h[weight]["shape"] = [s[1], s[0], 1, 1]
    yield "wrong shape (transposed)", "IG_ERR_MODEL_WRONG_SHAPE", edit(transpose)
    yield "config channels disagree with tensors", "IG_ERR_MODEL_WRONG_SHAPE", edit_cfg(
        lambda c: c["blocks"][0].__setitem__("channels", c["blocks"][0]["channels"] + 1))

    def poison(value, name):
        e = header[name]
        b0 = e["data_offsets"][0]
        patch = np.array([value], dtype=np.float32 if e["dtype"] == "F32" else np.float16).tobytes()
        return build(header, data[:b0] + patch + data[b0 + len(patch):])
    yield "NaN in a weight", "IG_ERR_MODEL_NONFINITE", poison(np.nan, weight)
    yield "Inf in w_avg", "IG_ERR_MODEL_NONFINITE", poison(np.inf, "mapping.w_avg")


def run(cli, args):
    p = subprocess.run([cli] + args, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", required=True)
    ap.add_argument("--model", required=True)
    a = ap.parse_args()
    header, data = split(a.model)
    tmp = tempfile.mkdtemp(prefix="ig-corrupt-")
    failures = []
    count = 0
    try:
        # positive controls: the valid file, and an unaligned rewrite of it
        def ok(path, label):
            out = os.path.join(tmp, "ok-" + label)
            rc, _, err = run(a.inrgan, ["render", "-m", path, "--seeds", "0", "-o", out, "--backend", "cpu", "-q"])
            if rc != 0 or not os.path.exists(os.path.join(out, "seed0000.png")):
                failures.append(f"control '{label}': rc={rc} {err.strip()}")
        ok(a.model, "valid")
        names = tensor_names(header)
        h2, data2, off = {"__metadata__": header["__metadata__"]}, b"\x00", 1
        for k in names:  # one pad byte: every tensor starts at an odd offset
            b0, b1 = header[k]["data_offsets"]
            h2[k] = dict(header[k], data_offsets=[off, off + b1 - b0])
            data2 += data[b0:b1]
            off += b1 - b0
        p = os.path.join(tmp, "unaligned.safetensors")
        open(p, "wb").write(build(h2, data2))
        ok(p, "unaligned")

        for name, expect, blob in defects(header, data):
            count += 1
            path = os.path.join(tmp, "bad.safetensors")
            open(path, "wb").write(blob)
            out = os.path.join(tmp, "out-%d" % count)
            for cmd in (["render", "-m", path, "--seeds", "0-1", "-o", out, "--backend", "cpu"],
                        ["info", "-m", path, "--json", os.path.join(out, "info.json")]):
                rc, so, se = run(a.inrgan, cmd)
                lines = [l for l in se.splitlines() if l.strip()]
                problems = []
                if rc != 2:
                    problems.append(f"exit {rc} (want 2)")
                if len(lines) != 1 or expect not in lines[0]:
                    problems.append(f"stderr {se.strip()!r} (want one line with {expect})")
                if os.path.exists(out) and os.listdir(out):
                    problems.append(f"left output {os.listdir(out)}")
                if problems:
                    failures.append(f"{name} / {cmd[0]}: " + "; ".join(problems))
                else:
                    print(f"ok   {name:42s} {cmd[0]:6s} -> {lines[0]}")
        # files that are not models at all
        for name, path, expect in (("missing file", os.path.join(tmp, "nope.safetensors"), "IG_ERR_MODEL_OPEN"),
                                   ("directory", tmp, "IG_ERR_MODEL_OPEN")):
            count += 1
            rc, _, se = run(a.inrgan, ["info", "-m", path])
            if rc != 2 or expect not in se:
                failures.append(f"{name}: rc={rc} {se.strip()}")
            else:
                print(f"ok   {name:42s} info   -> {se.strip()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{count} defects, {len(failures)} failures")
    for f in failures:
        print("FAIL", f)
    return 1 if failures or count < 20 else 0


if __name__ == "__main__":
    sys.exit(main())
