"""PyTorch reference for `deno task bench`: train-small's (2+1)D U-Net, built layer for layer
as in lib/nn/denoiser.ts, timed for one training step on the CPU.

A step is what the TypeScript trainer does per batch: forward, mean squared error against a
target, backward, gradient clipping to global norm 1, Adam, and an EMA update of the weights.
(Batch preparation, the stage maths and data-noise alignment, runs in JavaScript on our side
and is not ported: it is measured separately and is a small part of a step.)

Run by bench/main.ts with Debian's python3-torch:
  OMP_NUM_THREADS=2 /usr/bin/python3 bench/torch_reference.py --frames 16,8,4 --rounds 7
Prints one JSON object. The only Python in the repository besides the notebook runner.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def sinusoidal(values, size, max_period=1e4):
    half = size // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    angle = values[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


def groups_for(c):
    return 8 if c % 8 == 0 else 4


class Block(nn.Module):
    """Spatial residual pair with conditioning, then a temporal 3-tap convolution."""

    def __init__(self, c, e):
        super().__init__()
        self.g = groups_for(c)
        self.spatial1 = nn.Conv2d(c, c, 3, padding=1)
        self.cond = nn.Linear(e, c)
        self.spatial2 = nn.Conv2d(c, c, 3, padding=1)
        self.temporal = nn.Conv2d(c, c, (3, 1), padding=(1, 0))

    def norm(self, x):  # group norm without affine part, eps 1e-5 (as layers.ts)
        return F.group_norm(x, self.g, eps=1e-5)

    def forward(self, x, e, b, f):
        n, c, h, w = x.shape
        y = self.spatial1(F.silu(self.norm(x)))
        y = y + self.cond(e)[:, :, None, None]
        y = self.spatial2(F.silu(self.norm(y)))
        x = x + y
        t = F.silu(self.norm(x))  # [b·f, c, h, w] -> [b, c, f, h·w]
        t = t.reshape(b, f, c, h * w).permute(0, 2, 1, 3)
        dt = self.temporal(t).permute(0, 2, 1, 3).reshape(n, c, h, w)
        return x + dt


class UNet(nn.Module):
    def __init__(self, widths=(32, 48, 64), patch=4, channels=1, embedding=64, max_stages=4):
        super().__init__()
        self.widths, self.patch, e = list(widths), patch, embedding
        pc = patch * patch * channels
        self.time1, self.time2 = nn.Linear(64, e), nn.Linear(e, e)
        self.stage = nn.Parameter(0.5 * torch.randn(max_stages, e))
        self.position = nn.Linear(64, e)
        self.stem = nn.Conv2d(pc, widths[0], 3, padding=1)
        self.down = nn.ModuleList([Block(c, e) for c in widths])
        self.to_next = nn.ModuleList([nn.Linear(widths[i], widths[i + 1]) for i in range(len(widths) - 1)])
        self.mid = Block(widths[-1], e)
        self.from_next = nn.ModuleList([nn.Linear(widths[i + 1], widths[i]) for i in range(len(widths) - 1)])
        self.up = nn.ModuleList([Block(widths[i], e) for i in range(len(widths) - 1)])
        self.out = nn.Conv2d(widths[0], pc, 3, padding=1)
        self.skip = nn.Linear(e, 1)

    def forward(self, x, t, k, positions):
        b, f, h, w, ch = x.shape
        p = self.patch
        time = self.time2(F.silu(self.time1(sinusoidal(1000 * t, 64))))
        pos = self.position(sinusoidal(positions, 64, 1000))
        e = F.silu(time[:, None, :] + pos[None, :, :] + self.stage[k - 1][None, None, :]).reshape(b * f, -1)
        frames = x.reshape(b * f, h // p, p, w // p, p, ch).permute(0, 5, 2, 4, 1, 3)
        hcur = self.stem(frames.reshape(b * f, ch * p * p, h // p, w // p))
        skips = []
        last = len(self.widths) - 1
        for i in range(len(self.widths)):
            hcur = self.down[i](hcur, e, b, f)
            if i < last:
                skips.append(hcur)
                pooled = F.avg_pool2d(hcur, 2)
                hcur = self.to_next[i](pooled.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        hcur = self.mid(hcur, e, b, f)
        for i in range(last - 1, -1, -1):
            upsampled = F.interpolate(hcur, scale_factor=2, mode="nearest")
            hcur = self.from_next[i](upsampled.permute(0, 2, 3, 1)).permute(0, 3, 1, 2) + skips[i]
            hcur = self.up[i](hcur, e, b, f)
        hcur = self.out(F.silu(F.group_norm(hcur, groups_for(self.widths[0]), eps=1e-5)))
        out = hcur.reshape(b * f, ch, p, p, h // p, w // p).permute(0, 4, 2, 5, 3, 1).reshape(b, f, h, w, ch)
        return out + self.skip(e).reshape(b, f, 1, 1, 1) * x


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", default="16,8,4")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = UNet()
    params = [p for p in model.parameters()]
    ema = [p.detach().clone() for p in params]
    optimizer = torch.optim.Adam(params, lr=2e-3)
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in params),
        "batch": args.batch,
        "ms": {},
    }
    for frames in [int(v) for v in args.frames.split(",")]:
        stride = 16 // frames
        positions = torch.arange(frames, dtype=torch.float32) * stride
        k = int(round(math.log2(stride))) + 1
        x0 = torch.randn(args.batch, frames, args.size, args.size, 1)

        def step():
            t = torch.rand(args.batch)
            noise = torch.randn_like(x0)
            xt = (1 - t)[:, None, None, None, None] * x0 + t[:, None, None, None, None] * noise
            target = noise - x0
            optimizer.zero_grad(set_to_none=True)
            loss = F.mse_loss(model(xt, t, k, positions), target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            with torch.no_grad():
                for e, p in zip(ema, params):
                    e.mul_(0.995).add_(p, alpha=0.005)

        step()  # warm-up
        times = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            step()
            times.append(1000 * (time.perf_counter() - t0))
        result["ms"][str(frames)] = statistics.median(times)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
