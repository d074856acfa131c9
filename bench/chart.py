"""Draws bench/results/latest.png from a results JSON: four panels, one bar per target.

Run by the harness with the matplotlib of its tools venv (outside the project's lock), so it
imports nothing from the project: `python bench/chart.py latest.json latest.png`.
"""

import json
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # the backend must be chosen first

PANELS = (
    ("rps_high", "req/s at {high} connections (higher is better)"),
    ("added_p50_ms_1", "added p50 ms at {low} connection (lower is better)"),
    ("added_ttft_p50_ms", "added time to first token, ms (lower is better)"),
    ("rss_after_mb", "RSS MB after load (lower is better)"),
)
COLOURS = {"gateway": "#2b7bba", "litellm": "#d9822b", "portkey": "#5a9e4b"}


def main(source: Path, target: Path) -> None:
    doc = json.loads(source.read_text())
    ran = [t for t in doc["targets"] if not t["name"].startswith("direct") and t["status"] == "ok"]
    skipped = [t["label"] for t in doc["targets"] if t["status"] != "ok"]
    connections = doc["config"]["connections"]
    figure, axes = plt.subplots(2, 2, figsize=(max(11.0, 0.9 * len(ran) + 2), 8))
    for axis, (field, title) in zip(axes.flat, PANELS, strict=True):
        # Wrapped: the longer labels (an older checkout, the cross-format rows) would run into each other.
        labels = [textwrap.fill(t["label"], 18, break_long_words=False) for t in ran]
        values = [t["summary"].get(field) or 0 for t in ran]
        bars = axis.bar(labels, values, color=[COLOURS.get(t["name"], "grey") for t in ran])
        axis.bar_label(bars, labels=[f"{v:,.1f}" for v in values], fontsize=8)
        axis.set_title(title.format(high=max(connections), low=min(connections)), fontsize=10)
        axis.tick_params(axis="x", labelsize=7)
    m = doc["machine"]
    note = f" (skipped: {', '.join(skipped)})" if skipped else ""
    figure.suptitle(
        f"{doc['date']} · {m['host']}: {m['cores']} cores, {m['cpu']}, Python {m['python']}, Node {m['node']}\n"
        f"{doc['config']['workers']} worker(s) each, {doc['config']['duration_s']:g} s wrk runs{note}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(target, dpi=100)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
