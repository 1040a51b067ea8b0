#!/usr/bin/python3
"""Writes the committed golden fixture into tests/data/ (run from anywhere):

    /usr/bin/python3 python/tests/make_golden.py [--out DIR]

    golden_tiny.safetensors  tiny-nearest config, torch.manual_seed(0) weights with random
                             biases / w_avg, fp32, truncation_psi 0.7 stored as the default
    golden_z.npy             float32 [2, 32]: seed_to_z(0), seed_to_z(1) (the documented RNG,
                             so `--seeds 0-1` must give the same rows)
    golden_image.npy         float32 [2, 3, 32, 32]: float64 torch forward, psi 0.7

The C engine must reproduce golden_image.npy within 1e-4 (max abs) from the model file and
either golden_z.npy or --seeds 0-1 (with the file's default psi or --truncation 0.7).
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep python/ free of __pycache__ when tests run
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from inrgan import config, export, generator, latents  # noqa: E402

PSI = 0.7
SEEDS = [0, 1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(ROOT, "tests", "data"))
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    cfg = config.tiny("nearest")
    cfg["truncation_psi"] = PSI
    torch.manual_seed(0)
    with torch.no_grad():
        G = generator.Generator(cfg)
        generator.randomize_biases(G)
    model = os.path.join(args.out, "golden_tiny.safetensors")
    export.save_model(G, model, cfg, provenance={
        "source": "random init", "created_by": "python/tests/make_golden.py",
        "config": "tiny-nearest", "seed": "0", "random_biases": "true"})

    # Render from the file as written (what the C engine will read).
    G2, cfg2 = export.load_model(model)
    z = latents.seeds_to_z(SEEDS, cfg2["z_dim"])
    with torch.no_grad():
        img = G2.double()(torch.from_numpy(z).double(), psi=PSI).numpy().astype(np.float32)
    np.save(os.path.join(args.out, "golden_z.npy"), z)
    np.save(os.path.join(args.out, "golden_image.npy"), img)
    total = 0
    for f in ("golden_tiny.safetensors", "golden_z.npy", "golden_image.npy"):
        size = os.path.getsize(os.path.join(args.out, f))
        total += size
        print("%-26s %7d bytes" % (f, size))
    print("total %d bytes; image range [%.3f, %.3f]" % (total, img.min(), img.max()))
    return 0 if total < 200 * 1024 else 1


if __name__ == "__main__":
    sys.exit(main())
