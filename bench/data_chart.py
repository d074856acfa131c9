"""Draws bench/results/data-latest.png from a data benchmark's JSON: p95 of each read per engine and table size.

Run with the matplotlib of the bench's tools venv (outside the project's lock): imports nothing of the project.
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # the backend must be chosen first

TARGET_MS = 300


def main(source: Path, target: Path) -> None:
    doc = json.loads(source.read_text())
    runs = doc["runs"]
    reads = list(runs[0]["reads"])
    engines = sorted({run["engine"] for run in runs})
    fig, axes = plt.subplots(1, len(engines), figsize=(7 * len(engines), 5.5), squeeze=False)
    for ax, engine in zip(axes[0], engines, strict=True):
        mine = [run for run in runs if run["engine"] == engine]
        width = 0.8 / max(len(mine), 1)
        for index, run in enumerate(mine):
            values = [run["reads"][name]["p95_ms"] for name in reads]
            ax.barh([i + index * width for i in range(len(reads))], values, height=width, label=f"{run['rows']:,} rows")
        ax.axvline(TARGET_MS, color="#c0392b", linestyle="--", linewidth=1, label=f"target p95 {TARGET_MS} ms")
        ax.set_yticks([i + 0.4 - width / 2 for i in range(len(reads))], [name[:42] for name in reads], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("p95 ms (lower is better)")
        ax.set_title(engine)
        ax.legend(fontsize=8)
    fig.suptitle(f"Reads over usage tables of growing size ({doc['date']})")
    fig.tight_layout()
    fig.savefig(target, dpi=110)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
