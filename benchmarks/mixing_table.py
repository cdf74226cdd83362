#!/usr/bin/env python3
"""Reads ponet-bench's JSON output (--benchmark_filter=mixing_ --benchmark_out=FILE) and prints
the Markdown table of docs/benchmarks.md: per (B, N, D), the fused forward and forward+backward
time and bw_fraction, the unfused times and the fused speed-ups. Standard library only.

    python3 benchmarks/mixing_table.py mixing.json
"""
import json
import sys

rows = {}  # (B, N, D) -> {kind: (ms, bw_fraction)}
with open(sys.argv[1]) as f:
    data = json.load(f)
for b in data["benchmarks"]:
    parts = b["name"].split("/")
    if not parts[0].startswith("mixing_"):
        continue
    args = {k: int(v) for k, v in (p.split(":", 1) for p in parts[1:] if ":" in p) if v.isdigit()}
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b["time_unit"]]
    rows.setdefault((args["B"], args["N"], args["D"]), {})[parts[0][len("mixing_"):]] = (
        b["real_time"] * scale, b.get("bw_fraction", float("nan")))

print("| B | N | D | fused fwd ms | bw_fraction | fused fwd+bwd ms | bw_fraction "
      "| unfused fwd ms | unfused fwd+bwd ms | speed-up fwd | speed-up fwd+bwd |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (B, N, D), r in sorted(rows.items()):
    ff, fb = r.get("fused_forward"), r.get("fused_forward_backward")
    uf, ub = r.get("unfused_forward"), r.get("unfused_forward_backward")
    if not (ff and fb and uf and ub):
        continue
    print(f"| {B} | {N} | {D} | {ff[0]:.3g} | {ff[1]:.2f} | {fb[0]:.3g} | {fb[1]:.2f} "
          f"| {uf[0]:.3g} | {ub[0]:.3g} | {uf[0] / ff[0]:.2f}x | {ub[0] / fb[0]:.2f}x |")
