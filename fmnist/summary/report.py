"""Writing the summary: CSV and Markdown tables, PNG plots and one self-contained HTML report."""

from __future__ import annotations

import base64
import html
import logging
import math
import shlex
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from hydra_plugins.fmnist_optuna_sweeper import atomic

from fmnist.summary.collect import Run, collect_runs, label_prefixes
from fmnist.summary.figures import write_run_figures, write_study_figures
from fmnist.summary.tables import (
    compact,
    compact_groups,
    factor_table,
    group_table,
    objectives_of,
    runs_table,
    short_value,
    study_tables,
    swept_keys,
)

__all__ = ["markdown_table", "study_of_runs", "summarize", "sweep_commands"]

log = logging.getLogger(__name__)


def _short(text: str) -> str:
    return short_value(text)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    return _short(str(value)).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (floats to 4 decimals, NaN blank)."""
    if frame.empty:
        return "_(none)_\n"
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"


def sweep_commands(paths: Sequence[str | Path]) -> list[str]:
    """The command lines that produced the sweeps (from each sweep's ``multirun.yaml``)."""
    commands = []
    for path in paths:
        for multirun in sorted(Path(path).rglob("multirun.yaml"))[:5]:
            try:
                cfg = yaml.safe_load(multirun.read_text()) or {}
            except yaml.YAMLError:
                continue
            overrides = (cfg.get("hydra") or {}).get("overrides") or {}
            hydra_args = [o for o in overrides.get("hydra") or [] if not o.startswith("hydra.mode")]
            args = [*(overrides.get("task") or []), *hydra_args]
            commands.append("python -m fmnist -m " + " ".join(shlex.quote(a) for a in args))
    return commands


def study_of_runs(runs: Sequence[Run]) -> tuple[Any, str]:
    """The Optuna study the runs belong to (from their ``optuna.*`` config), if any, through
    the sweeper's job-side module: a run directory is data, so reading it never creates a
    database (Optuna would) where its config says; an unreadable study is the note."""
    for run in runs:
        trial = run.config.get("optuna") or {}
        if trial.get("storage") and trial.get("study_name"):
            if not isinstance(trial["storage"], str) or not isinstance(trial["study_name"], str):
                return None, "the runs' optuna.storage / optuna.study_name are not strings"
            from hydra_plugins.fmnist_optuna_sweeper.job import StudyUnavailable, open_study

            try:
                return open_study(trial["storage"], trial["study_name"]), ""
            except StudyUnavailable as exc:  # storage gone or unreachable: the report says so
                return None, str(exc)
    return None, ""


def _retrained_sections(paths: Sequence[str | Path]) -> list[tuple[str, str]]:
    """The table of ``fmnist.best --retrain`` (``<sweep>/best/``) of each path that has one."""
    from fmnist.best.retrain import RUNS_CSV, SUMMARY_CSV

    sections = []
    for path in paths:
        best = Path(path) / "best"
        if not (best / SUMMARY_CSV).is_file():
            continue
        try:
            summary, runs = pd.read_csv(best / SUMMARY_CSV), pd.read_csv(best / RUNS_CSV)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            sections.append(("Best trials, trained again", f"<p>{html.escape(str(exc))}</p>"))
            continue
        sections.append((
            f"Best trials, trained again ({best})",
            "<p>Ranked by mean test accuracy over the seeds (std: sample standard deviation), "
            "from <code>python -m fmnist.best --retrain</code>.</p>" + _html_table(summary)
            + "<h3>Runs</h3>" + _html_table(runs)))
    return sections


def _image(path: Path, title: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(title)}</figcaption></figure>")


#: where a long column name may break: after ``_`` and ``.`` (a zero-width space)
_BREAK = "\u200b"


def _breakable(name: Any) -> str:
    return str(name).replace("_", "_" + _BREAK).replace(".", "." + _BREAK)


def _html_table(frame: pd.DataFrame) -> str:
    """A table that fits the page: every column shown (never a scroll bar hiding some); headers
    break after ``_`` and ``.``, values stay whole, and the last column (the note, a run
    directory) wraps."""
    if frame.empty:
        return "<p><em>(none)</em></p>"
    frame = frame.map(lambda v: _short(v) if isinstance(v, str) else v)
    frame = frame.rename(columns=_breakable)
    table = frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="",
                          classes="table", border=0, escape=True)
    return table


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1140px;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:12px;margin:1em 0;max-width:100%}
th,td{padding:3px 4px;border-bottom:1px solid #ddd;text-align:right}
td{white-space:nowrap} th{font-weight:600;vertical-align:bottom}
h1,h2,h3,p,code{overflow-wrap:anywhere}
td:last-child{white-space:normal;overflow-wrap:anywhere;text-align:left;min-width:8em}
th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
tr.failed td{color:#b00} code{background:#f4f4f4;padding:2px 4px}
figure{margin:1.5em 0} img{max-width:100%;height:auto;display:block}
figcaption{font-size:14px;color:#555;margin-top:4px}
"""


def _write_html(out: Path, title: str, commands: Sequence[str], sections: list[tuple[str, str]]
                ) -> Path:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p>Generated {datetime.now():%Y-%m-%d %H:%M:%S}.</p>"]
    if commands:
        parts.append("<h2>Command</h2>" + "".join(f"<p><code>{html.escape(c)}</code></p>" for c in commands))
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{body}")
    parts.append("</body></html>")
    path = out / "report.html"
    atomic.write_text(path, "\n".join(parts))
    return path


def summarize(paths: Sequence[str | Path], output: str | Path | None = None, top_n: int = 8,
              progress: bool = True) -> Path:
    """Collate the runs under ``paths`` and write tables, plots and ``report.html`` into
    ``output`` (default: ``<first path>/summary``). Returns the report's path.

    The CSV files hold every column; the Markdown files and the report show a compact set."""
    runs = collect_runs(paths, progress=progress)
    out = Path(output) if output is not None else Path(paths[0]) / "summary"
    out.mkdir(parents=True, exist_ok=True)
    objectives = objectives_of(runs)
    objective = objectives[0]
    table = runs_table(runs, objective)
    groups = group_table(runs)
    factors = factor_table(runs)
    study, study_note = study_of_runs(runs)
    full = {"runs": table, "factors": factors, "groups": groups}
    shown = {"runs": compact(table, runs), "factors": compact_groups(factors),
             "groups": compact_groups(groups)}
    if study is not None:
        for name, frame in study_tables(study, objectives).items():
            full[name] = shown[name] = frame
    for name, frame in full.items():
        with atomic.atomic_path(out / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
        atomic.write_text(out / f"{name}.md", markdown_table(shown[name]))
    values = dict(zip(table["run"], table[objective], strict=True))
    figures = write_run_figures(runs, list(table["run"]), out, top_n=top_n, keys=swept_keys(runs),
                                objective=objective, values=values)
    if study is not None:
        figures.update(write_study_figures(study, out, top_n=top_n))

    counts = table["status"].value_counts().to_dict()
    overview = ", ".join(f"{n} {status}" for status, n in counts.items())
    prefixes = label_prefixes(runs)
    legend = ("; labels: " + ", ".join(f"{k} = <code>{html.escape(str(v))}</code>"
                                        for k, v in prefixes.items())) if prefixes else ""
    sections = [("Runs", f"<p>{len(runs)} runs: {html.escape(overview)}. Sorted by "
                 f"<code>{html.escape(objective)}</code>; ★ marks the best{legend}. Every column "
                 "is in <code>runs.csv</code>.</p>" + _html_table(shown["runs"]))]
    if not factors.empty:
        sections.append(("By factor (each option over the completed runs that have it: mean ± std)",
                         _html_table(shown["factors"])))
    if not groups.empty and len(groups.columns) and (groups["runs"] > 1).any() and \
            factors["factor"].nunique() > 1:
        sections.append(("By combination (metrics over completed runs: mean ± std)",
                         _html_table(shown["groups"])))
    if study is not None:
        study_html = "".join(f"<h3>{name.replace('study_', '').title()}</h3>{_html_table(frame)}"
                             for name, frame in full.items() if name.startswith("study_"))
        sections.append((f"Optuna study {study.study_name}", study_html))
    elif study_note:
        sections.append(("Optuna study", f"<p>{html.escape(study_note)}</p>"))
    for title, body in _retrained_sections(paths):
        sections.append((title, body))
    sections.append(("Plots", "".join(_image(p, t) for t, p in figures.items())))
    report = _write_html(out, f"Sweep summary: {', '.join(str(p) for p in paths)}",
                         sweep_commands(paths), sections)
    log.info("Summary of %d runs (%s) in %s", len(runs), overview, out)
    return report
