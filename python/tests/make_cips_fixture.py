#!/usr/bin/python3
"""Writes tests/data/tiny_cips.safetensors, the committed CIPS model of the viewer and Vulkan
tests (run from anywhere):

    /usr/bin/python3 python/tests/make_cips_fixture.py [--out DIR]

A CIPSskip of cips.small_kwargs() (size 16, hidden 32, style 32, n_mlp 2, channels 32, 32, 16),
torch.manual_seed(0) initialisation, then noise weights 0.3, modulation biases 1 + N(0, 0.2^2)
and other biases N(0, 0.1^2) so that every term of the layer is exercised; w_avg = the mean of
100 mapped latents (seed 0); default psi 1, noise "random" (seeded by the engine).
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))

import torch  # noqa: E402

from inrgan import cips  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(ROOT, "tests", "data"))
    args = p.parse_args(argv)
    torch.manual_seed(0)
    G = cips.CIPSskip(**cips.small_kwargs())
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, t in G.named_parameters():
            if name.endswith("noise.weight"):
                t.fill_(0.3)
            elif name.endswith("modulation.bias"):
                t.copy_(1 + 0.2 * torch.randn(t.shape, generator=g))
            elif name.endswith("bias"):
                t.copy_(0.1 * torch.randn(t.shape, generator=g))
    path = os.path.join(args.out, "tiny_cips.safetensors")
    cips.save_model(G, path, w_avg=G.mean_w(100, 0), provenance={
        "source": "random init", "created_by": "python/tests/make_cips_fixture.py", "seed": "0"})
    print("%s: %d bytes" % (path, os.path.getsize(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
