#!/usr/bin/env python3
"""The PoNet training step of benchmarks/cuda/bench_train.cu in PyTorch, for the ratio.

Same model and setting: the LRA-style classifier of docs/nn.md (embeddings + learned positions,
dropout 0.1, 2 pre-LN blocks with PoNet mixing and a GELU FFN, final LayerNorm, mean over valid
tokens, Linear-ReLU-Linear, cross-entropy), LRA Text (D = 64, 2 heads, FFN 128, byte vocabulary,
batch 32, full-length sequences, LRA chunks with segment_num 2048, window 3), AdamW. Written from
/work/shared/PONET.md, as an eager framework runs it: one kernel per operator. Each case runs
eagerly and, with --compile, under torch.compile (compiled once per shape: slow to start).

Prints one line per case and writes a JSON list to --out (steps/s, tokens/s, peak memory from
torch.cuda.max_memory_allocated). Exits 77 with "SKIPPED: ..." when PyTorch or a CUDA device is
missing, so benchmarks/run_gpu_checks.sh can tell a skip from a failure.

  python3 benchmarks/cuda/torch_ponet_step.py --out torch.json --lengths 512 1024 4096 --compile
"""

import argparse
import json
import math
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("SKIPPED: PyTorch is not installed")
    sys.exit(77)

FILL = -10000.0  # PONET.md: padding filled with -10000 before max pooling


class PoNetMixer(nn.Module):
    def __init__(self, D, heads, window, segment_num):
        super().__init__()
        self.D, self.H, self.k, self.S = D, heads, window, segment_num
        self.proj = nn.Linear(D, 5 * D)  # q, k, o, segment, local
        self.out = nn.Linear(D, D)

    def forward(self, x, valid):  # x [B, N, D], valid [B, N] bool
        B, N, D = x.shape
        H, dh = self.H, D // self.H
        q, k, o, sg, lc = self.proj(x).split(D, dim=-1)
        v3 = valid.unsqueeze(-1)
        w = v3.to(x.dtype)
        qm = (q * w).sum(1, keepdim=True) / w.sum(1, keepdim=True).clamp(min=1)
        kh = k.reshape(B, N, H, dh)
        scores = (kh * qm.reshape(B, 1, H, dh)).sum(-1) / math.sqrt(dh)
        a = torch.softmax(scores.masked_fill(~v3, float("-inf")), dim=1)
        g = (a.unsqueeze(-1) * kh).sum(1).reshape(B, 1, D)
        # Segment max over LRA chunks of length L = N // S + 1 (PONET.md#segments).
        L = N // self.S + 1
        pad = (-N) % L
        sgf = F.pad(sg.masked_fill(~v3, FILL), (0, 0, 0, pad), value=float("-inf"))
        s = sgf.reshape(B, -1, L, D).amax(dim=2).repeat_interleave(L, dim=1)[:, :N]
        s = s.masked_fill(~v3, 0.0)
        lcf = lc.masked_fill(~v3, FILL).transpose(1, 2)
        l = F.max_pool1d(lcf, self.k, stride=1, padding=self.k // 2).transpose(1, 2)
        l = l.masked_fill(~v3, 0.0)
        return self.out(((g + s) * o + l).masked_fill(~v3, 0.0))


class Block(nn.Module):
    def __init__(self, D, ffn, heads, window, segment_num, dropout):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.mixer = PoNetMixer(D, heads, window, segment_num)
        self.ffn1, self.ffn2 = nn.Linear(D, ffn), nn.Linear(ffn, D)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, valid):
        x = x + self.drop(self.mixer(self.ln1(x), valid))
        h = self.drop(F.gelu(self.ffn1(self.ln2(x))))
        return x + self.drop(self.ffn2(h))


class Classifier(nn.Module):
    def __init__(self, vocab, max_len, D, ffn, layers, heads, head_hidden, classes, segment_num):
        super().__init__()
        self.tokens = nn.Embedding(vocab, D)
        self.positions = nn.Embedding(max_len, D)
        self.drop = nn.Dropout(0.1)
        self.blocks = nn.ModuleList(
            Block(D, ffn, heads, 3, segment_num, 0.1) for _ in range(layers))
        self.final_ln = nn.LayerNorm(D)
        self.fc1, self.fc2 = nn.Linear(D, head_hidden), nn.Linear(head_hidden, classes)

    def forward(self, tokens, valid, labels):
        N = tokens.shape[1]
        x = self.drop(self.tokens(tokens) + self.positions.weight[:N].unsqueeze(0))
        for b in self.blocks:
            x = b(x, valid)
        z = self.final_ln(x)
        w = valid.unsqueeze(-1).to(z.dtype)
        pooled = (z * w).sum(1) / w.sum(1).clamp(min=1)
        logits = self.fc2(torch.relu(self.fc1(pooled)))
        return F.cross_entropy(logits, labels)


def run_case(N, mode, batch, warmup, steps):
    torch.manual_seed(1)
    dev = torch.device("cuda")
    model = Classifier(256, N, 64, 128, 2, 2, 128, 2, 2048).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, eps=1e-6, weight_decay=0.0)
    tokens = torch.randint(0, 256, (batch, N), device=dev)
    valid = torch.ones(batch, N, dtype=torch.bool, device=dev)
    labels = torch.randint(0, 2, (batch,), device=dev)
    fwd = torch.compile(model) if mode == "compile" else model

    def step():
        opt.zero_grad(set_to_none=True)
        loss = fwd(tokens, valid, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    warm_s = time.perf_counter() - t0
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    s = time.perf_counter() - t0
    return {
        "name": f"torch_train_step/ponet/{mode}/B:{batch}/N:{N}",
        "mode": mode,
        "B": batch,
        "N": N,
        "steps": steps,
        "steps_per_s": steps / s,
        "tokens_per_s": steps * batch * N / s,
        "peak_mib": torch.cuda.max_memory_allocated() / 2**20,
        "warmup_s": warm_s,
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048, 4096, 8192, 16384])
    ap.add_argument("--compile", action="store_true", help="also run under torch.compile")
    ap.add_argument("--compile-lengths", type=int, nargs="*", default=None,
                    help="lengths for torch.compile (default: --lengths)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("SKIPPED: PyTorch sees no CUDA device")
        sys.exit(77)
    cases = [(N, "eager") for N in args.lengths]
    if args.compile:
        cases += [(N, "compile") for N in (args.compile_lengths or args.lengths)]
    results = []
    for N, mode in cases:
        try:
            r = run_case(N, mode, args.batch, warmup=3 if mode == "compile" else 2,
                         steps=args.steps)
        except torch.cuda.OutOfMemoryError:
            r = {"name": f"torch_train_step/ponet/{mode}/B:{args.batch}/N:{N}", "mode": mode,
                 "N": N, "error": "out of memory"}
            torch.cuda.empty_cache()
        results.append(r)
        print(json.dumps(r), flush=True)
        with open(args.out, "w") as f:  # rewritten after each case: a timeout keeps the rest
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
