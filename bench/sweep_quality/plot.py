"""The replay's best-so-far plot: IQM and bootstrap 95 % band against the budget."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from sweep_quality.compare import Result

__all__ = ["best_so_far"]


def best_so_far(results: Mapping[str, Result], budget: int, path: Path) -> None:
    """One line per method (IQM over repetitions) with its band; x: epochs spent."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.arange(budget + 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    lows = []
    for name, result in results.items():
        ax.plot(grid, result.band.iqm, label=name)
        ax.fill_between(grid, result.band.low, result.band.high, alpha=0.2)
        lows.append(float(result.band.iqm[budget // 4]))
    ax.axvline(budget / 3, color="grey", linestyle=":", linewidth=1)
    ax.set_ylim(bottom=min(lows) - 0.02, top=max(float(r.band.high[-1]) for r in results.values()) + 0.005)
    ax.set_xlabel("epochs spent (all workers)")
    ax.set_ylabel("best validation accuracy so far")
    ax.set_title(f"replay: IQM and bootstrap 95 % band over {len(next(iter(results.values())).traces)} "
                 "repetitions")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
