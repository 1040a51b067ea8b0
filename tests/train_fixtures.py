"""What the trainer tests share (import after torch_env): a tiny generator config, a data set of
boxes, the trainer's command line for both, a module's state as one vector.

    from train_fixtures import G_SPEC, boxes, make_data, train_argv, flat
"""
import json

from torch_env import np, torch

# a 16x16 generator small enough for a CPU step in well under a second
G_SPEC = {"resolution": 16, "input_grid": 8, "channel_base": 64, "channel_max": 8, "rank": 2,
          "z_dim": 16, "w_dim": 8, "low_max_grid": 8,
          "emb_low": {"diagonal": False, "random": 2, "const": 2},
          "emb_high": {"diagonal": False, "random": 2, "const": 2}}


def boxes(n, seed, res=16):
    """n white res x res images (uint8 NHWC), each with one 5x5 box of a random colour."""
    rng = np.random.RandomState(seed)
    a = np.full((n, res, res, 3), 255, np.uint8)
    for i in range(n):
        y, x = rng.randint(2, res - 6, 2)
        a[i, y:y + 5, x:x + 5] = rng.randint(0, 200, 3)
    return a


def make_data(path, n, seed, res=16):
    """boxes(n, seed, res) saved as .npy at path."""
    np.save(path, boxes(n, seed, res))


def train_argv(data, outdir, *extra):
    """The trainer's arguments for G_SPEC and a tiny D on `data`, then `extra`."""
    return ["--data", data, "--outdir", outdir, "--g-config", json.dumps(G_SPEC),
            "--batch", "4", "--d-channel-base", "64", "--d-channel-max", "8",
            "--r1-interval", "2", "--r1-gamma", "1", "--ema-kimg", "0.02", "--threads", "1",
            "--snap-minutes", "1000", "--grid", "4", "--mbstd-group", "2"] + list(extra)


def flat(module):
    """A module's state dict as one float64 vector."""
    return torch.cat([t.detach().reshape(-1).double() for t in module.state_dict().values()])
