#!/usr/bin/env python3
"""PoNet's token mixing in eager PyTorch, written the way the authors' LRA module computes it
(masked-mean query, einsum scores, softmax, segment max by scatter, max-pooling window, fusion,
padding mask), for the speed comparison in docs/benchmarks.md. Our own code, from PONET.md.
Prints forward and forward+backward milliseconds (median of --repeats) for one shape.

    /usr/bin/python3 benchmarks/torch_mixing.py --batch 8 --tokens 4096 --channels 768 --heads 12
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F


def mixing(q, k, o, sg, lc, valid, seg_ids, S, H, window=3):
    B, N, D = q.shape
    dh = D // H
    pad = (valid < 0.5)[:, :, None]                                     # [B, N, 1]
    split = lambda x: x.view(B, N, H, dh).permute(0, 2, 1, 3)           # [B, H, N, dh]
    qh, kh, oh = split(q.masked_fill(pad, 0.0)), split(k), split(o)
    count = valid.sum(dim=1)[:, None, None]                             # [B, 1, 1]
    qm = qh.sum(dim=2) / count                                          # [B, H, dh]
    att = torch.einsum("bhd,bhnd->bhn", qm, kh) / math.sqrt(dh)
    att = att.masked_fill(pad.squeeze(-1)[:, None, :], -10000.0)
    g = torch.einsum("bhnd,bhn->bhd", kh, att.softmax(dim=-1))          # [B, H, dh]
    sgm = sg.masked_fill(pad, -10000.0)
    index = seg_ids[:, :, None].expand(B, N, D)
    table = torch.full((B, S, D), -1e30).scatter_reduce(1, index, sgm, reduce="amax")
    s = torch.gather(table, 1, index)                                   # [B, N, D]
    lcm = lc.masked_fill(pad, -10000.0)
    l = F.max_pool1d(lcm.transpose(1, 2), window, stride=1, padding=window // 2).transpose(1, 2)
    out = (g[:, :, None, :] + split(s)) * oh + split(l)
    out = out.permute(0, 2, 1, 3).reshape(B, N, D)
    return out.masked_fill(pad, 0.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--channels", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--segments", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    B, N, D = a.batch, a.tokens, a.channels
    gen = torch.Generator().manual_seed(0)
    make = lambda: torch.rand(B, N, D, generator=gen) * 2 - 1
    inputs = [make().requires_grad_() for _ in range(5)]
    valid = torch.ones(B, N)
    for b in range(B):
        valid[b, N - b:] = 0  # a little padding, as ponet-bench
    seg_len = N // a.segments + 1
    seg_ids = (torch.arange(N) // seg_len)[None, :].expand(B, N).contiguous()
    dout = make()

    def forward():
        with torch.no_grad():
            mixing(*inputs, valid, seg_ids, a.segments, a.heads)

    def forward_backward():
        out = mixing(*inputs, valid, seg_ids, a.segments, a.heads)
        out.backward(dout)

    for name, fn in (("forward", forward), ("forward+backward", forward_backward)):
        fn()
        times = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        times.sort()
        print(f"torch {torch.__version__} {a.threads} threads B={B} N={N} D={D} H={a.heads}: "
              f"{name} {1e3 * times[len(times) // 2]:.1f} ms")


if __name__ == "__main__":
    main()
