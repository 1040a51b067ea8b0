"""inrgan: PyTorch side of the INR-GAN engine.

Modules: safetensors_io (container I/O), config (architecture configs, docs/model-format.md),
generator (torch Generator with the official G_ema names), export (model files + CLI),
latents (seed -> z RNG shared with the C engine).
Run with /usr/bin/python3 (Debian's python3-torch).
"""

__all__ = ["safetensors_io", "config", "generator", "export", "latents"]
