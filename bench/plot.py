"""The tail latency distribution of a benchmark run as a PNG: latency against percentile
on the usual HDR scale (the x axis spreads the tail: 90%, 99%, 99.9%, ...).

  plot.py bench/results/bench.json bench/results/tail-latency.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after the backend is chosen)
import numpy as np  # noqa: E402


def main(source, target):
    tail = json.load(open(source))["tail"]
    figure, axes = plt.subplots(figsize=(9, 5.5))
    rates = sorted({step["rate"] for step in tail["steps"]})
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(rates)))
    for step in tail["steps"]:
        points = [(p, ms) for p, ms in step["percentiles"] if p < 100]
        # x = 1 / (1 - percentile): 10 at 90%, 100 at 99%, 1000 at 99.9%.
        x = [1 / (1 - p / 100) for p, _ in points]
        y = [max(ms, 0.1) for _, ms in points]
        seam = step["client"].startswith("Seam")
        axes.plot(
            x,
            y,
            color=colors[rates.index(step["rate"])],
            linestyle="-" if seam else "--",
            marker="o" if seam else "s",
            markersize=3,
            label=f"{step['client']} @ {step['rate']:,} msg/s",
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    ticks = [1, 2, 10, 100, 1000, 10000, 100000]
    axes.set_xticks(ticks, ["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"])
    axes.set_xlabel("percentile")
    axes.set_ylabel("publish → client latency, ms")
    axes.set_title("Tail latency: Seam (solid) vs the official Python reader (dashed)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(target, dpi=120)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
