#!/usr/bin/python3
"""The PyTorch side of benchmarks/bench_encoder.cpp: the same BERT-style PoNet encoder at
ponet-base size (D 768, 12 heads, 12 layers, FFN 3072, vocab 30522, 8192 positions so that
N = 8192 runs), random weights, float32, eval mode, torch.no_grad(), torch.set_num_threads(2).
Prints tokens/s (B * N over the median wall-clock time of one forward) for N in {512, 2048, 8192}
and B in {1, 8}, on the same kind of input: [CLS], then sentences of 20 to 40 random tokens each
closed by [SEP], no padding.

Our implementation, written from PONET.md (not the authors' code): the five mixing projections
as one Linear(D, 5D) (rows q, k, o, segment, local, as ponet does), GA with the additive -10000
mask of Hugging Face's BERT, segment max with scatter_reduce("amax") and a gather, local max with
max_pool1d(3, 1, 1), clsgsepg on (the delimiters filled with -10000 before both poolings and
their pooled values set to 0), post-LayerNorm layers with erf GELU, tanh pooler.

Run with Debian's python3-torch (1.13):
  /usr/bin/python3 bench_encoder_torch.py                  all six cases
  /usr/bin/python3 bench_encoder_torch.py --cases 1x512    one case (B x N)
"""

import argparse
import math
import statistics
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

CLS, SEP = 101, 102
FILL = -10000.0


class Layer(nn.Module):
    def __init__(self, D, H, Fw, eps):
        super().__init__()
        self.H, self.eps = H, eps
        self.proj = nn.Linear(D, 5 * D)  # q, k, o, segment, local
        self.out = nn.Linear(D, D)
        self.ln1 = nn.LayerNorm(D, eps=eps)
        self.ffn1 = nn.Linear(D, Fw)
        self.ffn2 = nn.Linear(Fw, D)
        self.ln2 = nn.LayerNorm(D, eps=eps)

    def mixing(self, x, valid, pool, seg, S):
        B, N, D = x.shape
        H, dh = self.H, D // self.H
        q, k, o, sg, lc = self.proj(x).chunk(5, dim=-1)
        vf = valid.to(x.dtype).unsqueeze(-1)                        # [B, N, 1]
        qm = (q * vf).sum(1) / vf.sum(1)                             # [B, D]
        kh = k.reshape(B, N, H, dh)
        scores = (kh * qm.reshape(B, 1, H, dh)).sum(-1) / math.sqrt(dh) + (1 - vf) * FILL
        a = torch.softmax(scores, dim=1)                             # [B, N, H]
        g = (a.unsqueeze(-1) * kh).sum(1).reshape(B, 1, D)
        keep = pool.unsqueeze(-1)
        idx = seg.unsqueeze(-1).expand(B, N, D)
        table = torch.full((B, S, D), FILL, dtype=x.dtype)
        table = table.scatter_reduce(1, idx, sg.masked_fill(~keep, FILL), "amax")
        s = table.gather(1, idx).masked_fill(~keep, 0.0)
        l = F.max_pool1d(lc.masked_fill(~keep, FILL).transpose(1, 2), 3, 1, 1).transpose(1, 2)
        l = l.masked_fill(~keep, 0.0)
        return ((g + s) * o + l).masked_fill(~valid.unsqueeze(-1), 0.0)

    def forward(self, x, valid, pool, seg, S):
        a = self.ln1(x + self.out(self.mixing(x, valid, pool, seg, S)))
        return self.ln2(a + self.ffn2(F.gelu(self.ffn1(a))))


class Encoder(nn.Module):
    def __init__(self, D=768, H=12, L=12, Fw=3072, V=30522, P=8192, T=2, eps=1e-12):
        super().__init__()
        self.word = nn.Embedding(V, D)
        self.pos = nn.Embedding(P, D)
        self.token_type = nn.Embedding(T, D)
        self.ln = nn.LayerNorm(D, eps=eps)
        self.layers = nn.ModuleList(Layer(D, H, Fw, eps) for _ in range(L))
        self.pooler = nn.Linear(D, D)

    def forward(self, ids, mask, types):
        B, N = ids.shape
        valid = mask.bool()
        delim = (ids == CLS) | (ids == SEP)
        pool = valid & ~delim  # clsgsepg
        follows = torch.zeros_like(delim)
        follows[:, 1:] = delim[:, :-1]
        seg = torch.cumsum((delim | follows).long(), dim=1) - 1
        S = int(seg.max()) + 1
        x = self.word(ids) + self.token_type(types) + self.pos(torch.arange(N)).unsqueeze(0)
        x = self.ln(x)
        for layer in self.layers:
            x = layer(x, valid, pool, seg, S)
        return x, torch.tanh(self.pooler(x[:, 0]))


def make_inputs(B, N, gen):
    ids = torch.randint(1000, 30000, (B, N), generator=gen)
    types = torch.zeros(B, N, dtype=torch.long)
    for b in range(B):
        ids[b, 0] = CLS
        i, t = 1, 0
        while i < N:
            n = int(torch.randint(20, 41, (1,), generator=gen))
            end = min(i + n - 1, N - 1)  # the sentence's [SEP]
            types[b, i:end + 1] = t
            ids[b, end] = SEP
            i, t = end + 1, 1
    return ids, torch.ones(B, N, dtype=torch.long), types


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="1x512,8x512,1x2048,8x2048,1x8192,8x8192",
                    help="comma-separated BxN")
    ap.add_argument("--repeats", type=int, default=3, help="timed forwards per case")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="scatter_reduce")  # 'in beta' in 1.13
    torch.manual_seed(1)
    model = Encoder().eval()
    gen = torch.Generator().manual_seed(2)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'B':>3} {'N':>6} {'median s':>10} {'tokens/s':>10}")
    with torch.no_grad():
        for case in args.cases.split(","):
            B, N = (int(v) for v in case.split("x"))
            ids, mask, types = make_inputs(B, N, gen)
            model(ids, mask, types)  # warm-up
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                model(ids, mask, types)
                times.append(time.perf_counter() - t0)
            t = statistics.median(times)
            print(f"{B:>3} {N:>6} {t:>10.3f} {B * N / t:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
