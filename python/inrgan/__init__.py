"""inrgan: PyTorch side of the INR-GAN engine.

Modules: safetensors_io (container I/O), config (architecture configs, docs/model-format.md),
generator (torch Generator with the official G_ema names), export (model files + CLI),
latents (seed -> z RNG shared with the C engine), bench_torch (PyTorch baseline for
`inrgan bench`), convert (official .pkl / state dicts -> model file, docs/converting.md),
restricted_pickle (the pickle reader convert uses: never imports or runs anything from a file),
train / dataset / discriminator / augment / swd (the trainer, docs/training.md),
cips / convert_cips (the CIPS family's reference generator and converter, docs/cips.md).
Run with /usr/bin/python3 (Debian's python3-torch).
"""

__all__ = ["safetensors_io", "config", "generator", "export", "latents", "bench_torch", "convert",
           "restricted_pickle", "train", "dataset", "discriminator", "augment", "swd", "cips", "convert_cips"]
