#!/usr/bin/env python3
"""Reads the train_step JSON files of run_train_table.sh and writes, into the same folder,
train_table.md (steps/s and peak memory, laid out like the paper's Table 2) and train_step.svg
(step time against N, log-log, one line per model). Standard library only."""
import glob
import json
import math
import os
import sys

out = sys.argv[1]
rows = {}  # (model, D) -> {N: (ms, steps_per_s, rss_mib, B)}
for path in glob.glob(os.path.join(out, "train_step*.json")):
    with open(path) as f:
        data = json.load(f)
    for b in data["benchmarks"]:
        parts = b["name"].split("/")
        model = parts[1]
        # Google Benchmark appends options such as "min_time:2.000" and "real_time"; keep the
        # integer arguments only.
        args = {k: int(v) for k, v in (p.split(":", 1) for p in parts[2:] if ":" in p)
                if v.isdigit()}
        ms = b["real_time"] if b["time_unit"] == "ms" else b["real_time"] / 1e6
        rows.setdefault((model, args["D"]), {})[args["N"]] = (
            ms, b["steps_per_s"], b["peak_rss_mib"], args["B"])

models = ["transformer", "fnet", "ponet"]
lines = []
for D in sorted({d for (_, d) in rows}):
    ns = sorted({n for (m, d), v in rows.items() if d == D for n in v})
    batch = next(iter(rows[(models[0], D)].values()))[3] if (models[0], D) in rows else "?"
    lines.append(f"Training step, D={D}, batch {batch}: steps/s (speed-up over the Transformer)\n")
    lines.append("| model | " + " | ".join(str(n) for n in ns) + " |")
    lines.append("|---|" + "---|" * len(ns))
    for m in models:
        cells = []
        for n in ns:
            v = rows.get((m, D), {}).get(n)
            t = rows.get(("transformer", D), {}).get(n)
            if not v:
                cells.append("-")
            elif m == "transformer" or not t:
                cells.append(f"{v[1]:.3g}")
            else:
                cells.append(f"{v[1]:.3g} ({v[1] / t[1]:.1f}x)")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Peak resident memory (GiB), D={D}\n")
    lines.append("| model | " + " | ".join(str(n) for n in ns) + " |")
    lines.append("|---|" + "---|" * len(ns))
    for m in models:
        cells = [f"{rows[(m, D)][n][2] / 1024:.2f}" if n in rows.get((m, D), {}) else "-" for n in ns]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines.append("")
with open(os.path.join(out, "train_table.md"), "w") as f:
    f.write("\n".join(lines))
print("\n".join(lines))

# SVG: step time (ms) against N, log-log, D=64.
W, H, L, R, T, Bm = 640, 400, 70, 20, 20, 50
pts = {m: sorted((n, v[0]) for n, v in rows.get((m, 64), {}).items()) for m in models}
allv = [ms for p in pts.values() for _, ms in p]
alln = [n for p in pts.values() for n, _ in p]
if allv:
    x0, x1 = math.log2(min(alln)), math.log2(max(alln))
    y0, y1 = math.floor(math.log10(min(allv))), math.ceil(math.log10(max(allv)))
    sx = lambda n: L + (math.log2(n) - x0) / max(1e-9, x1 - x0) * (W - L - R)
    sy = lambda v: T + (y1 - math.log10(v)) / max(1e-9, y1 - y0) * (H - T - Bm)
    colors = {"transformer": "#d62728", "fnet": "#1f77b4", "ponet": "#2ca02c"}
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    for e in range(y0, y1 + 1):
        y = sy(10 ** e)
        svg.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{10 ** e:g}</text>')
    for n in sorted(set(alln)):
        x = sx(n)
        svg.append(f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{H - Bm}" stroke="#eee"/>')
        svg.append(f'<text x="{x:.1f}" y="{H - Bm + 16}" text-anchor="middle">{n}</text>')
    svg.append(f'<text x="{(L + W - R) / 2}" y="{H - 10}" text-anchor="middle">sequence length N (batch 32, D=64)</text>')
    svg.append(f'<text transform="translate(16,{(T + H - Bm) / 2}) rotate(-90)" text-anchor="middle">training step (ms)</text>')
    for k, m in enumerate(models):
        p = pts[m]
        if not p:
            continue
        path = " ".join(f"{'M' if i == 0 else 'L'}{sx(n):.1f},{sy(v):.1f}" for i, (n, v) in enumerate(p))
        svg.append(f'<path d="{path}" fill="none" stroke="{colors[m]}" stroke-width="2"/>')
        for n, v in p:
            svg.append(f'<circle cx="{sx(n):.1f}" cy="{sy(v):.1f}" r="3" fill="{colors[m]}"/>')
        svg.append(f'<text x="{L + 10}" y="{T + 16 + 16 * k}" fill="{colors[m]}">{m}</text>')
    svg.append("</svg>")
    with open(os.path.join(out, "train_step.svg"), "w") as f:
        f.write("\n".join(svg))
