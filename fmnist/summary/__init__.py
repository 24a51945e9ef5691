"""The summariser: collates runs' configs, histories and metrics into tables, plots and an
HTML report (``python -m fmnist.summary PATH...``, and automatically after every multirun)."""

from __future__ import annotations

from fmnist.summary.collect import Run, SummaryError, collect_runs, find_run_dirs
from fmnist.summary.report import summarize
from fmnist.summary.tables import group_table, runs_table, swept_keys

__all__ = ["Run", "SummaryError", "collect_runs", "find_run_dirs", "group_table", "runs_table",
           "summarize", "swept_keys"]
