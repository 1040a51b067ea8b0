"""StyleGAN2 residual discriminator (the stylegan2-ada "resnet" architecture), sized to the
resolution, for training INR-GAN generators.

    D = Discriminator(resolution=64, channel_base=32768, channel_max=512, mbstd_group=4)
    logits = D(img)          # img [B, 3, R, R] in [-1, 1] -> [B] raw logits

Layout (written from the StyleGAN2 paper's description, not from its code):
  fromrgb: 1x1 conv 3 -> C(R), lrelu
  one residual block per resolution R, R/2, ..., 8:
      skip = down2(x) -> 1x1 conv (no bias, linear)
      x    = 3x3 conv C(r) -> C(r), lrelu ; down2 ; 3x3 conv C(r) -> C(r/2), lrelu
      x    = (x + skip) / sqrt(2)
  epilogue at 4x4: minibatch standard deviation (group G, 1 feature), 3x3 conv (C+1 -> C),
      lrelu, fully connected C*16 -> C, lrelu, fully connected C -> 1.
C(r) = min(channel_base // r, channel_max). All layers use equalized learning rate (weights
stored ~ N(0,1), scaled by 1/sqrt(fan_in) at runtime); lrelu is leaky ReLU 0.2 times sqrt(2).
down2 is a [1,3,3,1] binomial blur followed by 2x decimation (anti-aliased downsampling).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["Discriminator", "EqConv2d", "EqLinear", "downsample2", "d_channels"]

_SQRT2 = math.sqrt(2.0)
_SQRT_HALF = math.sqrt(0.5)


def _blur_kernel():
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = torch.outer(k, k)
    return k / k.sum()


def downsample2(x, kernel):
    """Blur with the normalised 4x4 binomial kernel and keep every second pixel: [B,C,H,W] ->
    [B,C,H/2,W/2]."""
    c = x.shape[1]
    k = kernel.to(x.dtype).reshape(1, 1, 4, 4).expand(c, 1, 4, 4)
    return F.conv2d(x, k, stride=2, padding=1, groups=c)


def d_channels(res, channel_base, channel_max):
    return int(min(channel_base // res, channel_max))


class EqConv2d(nn.Module):
    """Equalized-LR conv with optional lrelu activation and optional 2x downsampling first."""

    def __init__(self, cin, cout, k, bias=True, activation="lrelu", down=False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.gain = 1.0 / math.sqrt(cin * k * k)
        self.activation = activation
        self.down = down
        self.pad = k // 2
        if down:
            self.register_buffer("blur", _blur_kernel(), persistent=False)

    def forward(self, x, gain=1.0):
        if self.down:
            x = downsample2(x, self.blur)
        w = self.weight * self.gain
        b = self.bias
        if b is not None and b.dtype != x.dtype:
            b = b.to(x.dtype)
        x = F.conv2d(x, w.to(x.dtype), b, padding=self.pad)
        if self.activation == "lrelu":
            x = F.leaky_relu(x, 0.2) * (_SQRT2 * gain)
        elif gain != 1.0:
            x = x * gain
        return x


class EqLinear(nn.Module):
    def __init__(self, cin, cout, activation="lrelu"):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.gain = 1.0 / math.sqrt(cin)
        self.activation = activation

    def forward(self, x):
        x = F.linear(x, (self.weight * self.gain).to(x.dtype), self.bias.to(x.dtype))
        if self.activation == "lrelu":
            x = F.leaky_relu(x, 0.2) * _SQRT2
        return x


class DBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv0 = EqConv2d(cin, cin, 3)
        self.conv1 = EqConv2d(cin, cout, 3, down=True)
        self.skip = EqConv2d(cin, cout, 1, bias=False, activation="linear", down=True)

    def forward(self, x):
        y = self.skip(x, gain=_SQRT_HALF)
        x = self.conv0(x)
        x = self.conv1(x, gain=_SQRT_HALF)
        return x + y


class MinibatchStd(nn.Module):
    """Appends the average (over features and pixels) of the per-group standard deviation as
    one extra feature map. Groups are formed by striding the batch (sample i and i + B/G ...
    share a group), as in StyleGAN; the batch must be divisible by the group size."""

    def __init__(self, group_size=4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x):
        b, c, h, w = x.shape
        g = min(self.group_size, b) if self.group_size > 0 else b
        if b % g != 0:
            g = 1
            while g * 2 <= min(self.group_size, b) and b % (g * 2) == 0:
                g *= 2
        y = x.float().reshape(g, -1, c, h, w)
        y = y - y.mean(dim=0)
        y = (y.square().mean(dim=0) + 1e-8).sqrt()         # [B/G, C, H, W]
        y = y.mean(dim=(1, 2, 3))                            # [B/G]
        y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w).to(x.dtype)
        return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    def __init__(self, resolution, channel_base=32768, channel_max=512, mbstd_group=4,
                 img_channels=3):
        super().__init__()
        if resolution < 4 or resolution & (resolution - 1):
            raise ValueError("resolution must be a power of two >= 4")
        self.resolution = resolution
        ch = lambda r: d_channels(r, channel_base, channel_max)  # noqa: E731
        self.fromrgb = EqConv2d(img_channels, ch(resolution), 1)
        blocks = []
        r = resolution
        while r > 4:
            blocks.append(DBlock(ch(r), ch(r // 2)))
            r //= 2
        self.blocks = nn.ModuleList(blocks)
        c4 = ch(4)
        self.mbstd = MinibatchStd(mbstd_group)
        self.conv = EqConv2d(c4 + 1, c4, 3)
        self.fc = EqLinear(c4 * 16, c4)
        self.out = EqLinear(c4, 1, activation="linear")

    def forward(self, img):
        x = self.fromrgb(img)
        for blk in self.blocks:
            x = blk(x)
        x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        return self.out(x).reshape(-1).float()
