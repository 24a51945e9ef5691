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

from fmnist.summary.collect import Run, collect_runs
from fmnist.summary.figures import write_run_figures, write_study_figures
from fmnist.summary.tables import (
    compact,
    compact_groups,
    group_table,
    objectives_of,
    runs_table,
    short_value,
    study_tables,
    swept_keys,
)

__all__ = ["load_study_of", "markdown_table", "summarize", "sweep_commands"]

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


def load_study_of(runs: Sequence[Run]) -> tuple[Any, str]:
    """The Optuna study the runs belong to (from their ``optuna.*`` config), if any."""
    for run in runs:
        trial = run.config.get("optuna") or {}
        if trial.get("storage") and trial.get("study_name"):
            import optuna

            try:
                from fmnist.storage import storage_url

                return optuna.load_study(study_name=trial["study_name"],
                                         storage=storage_url(trial["storage"])), ""
            except Exception as exc:  # storage gone or unreachable: the report says so
                return None, f"study {trial['study_name']!r} in {trial['storage']} is unreadable: {exc}"
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


def _html_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p><em>(none)</em></p>"
    frame = frame.map(lambda v: _short(v) if isinstance(v, str) else v)
    table = frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="",
                          classes="table", border=0, escape=True)
    return f'<div class="scroll">{table}</div>'


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1140px;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
th,td{padding:4px 7px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
td:last-child{white-space:normal;text-align:left;min-width:9em}
.scroll{overflow-x:auto}
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
    path.write_text("\n".join(parts))
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
    study, study_note = load_study_of(runs)
    full = {"runs": table, "groups": groups}
    shown = {"runs": compact(table, runs), "groups": compact_groups(groups)}
    if study is not None:
        for name, frame in study_tables(study, objectives).items():
            full[name] = shown[name] = frame
    for name, frame in full.items():
        frame.to_csv(out / f"{name}.csv", index=False)
        (out / f"{name}.md").write_text(markdown_table(shown[name]))
    values = dict(zip(table["run"], table[objective], strict=True))
    figures = write_run_figures(runs, list(table["run"]), out, top_n=top_n, keys=swept_keys(runs),
                                objective=objective, values=values)
    if study is not None:
        figures.update(write_study_figures(study, out, top_n=top_n))

    counts = table["status"].value_counts().to_dict()
    overview = ", ".join(f"{n} {status}" for status, n in counts.items())
    sections = [("Runs", f"<p>{len(runs)} runs: {html.escape(overview)}. Sorted by "
                 f"<code>{html.escape(objective)}</code>; ★ marks the best. Every column is in "
                 "<code>runs.csv</code>.</p>" + _html_table(shown["runs"]))]
    if not groups.empty:
        sections.append(("By categorical choice (metrics over completed runs: mean ± std)",
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
