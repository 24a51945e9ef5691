"""The winner of a sweep as a final model.

    python -m fmnist.best SWEEP_DIR                       # SWEEP_DIR/best/best.yaml
    python -m fmnist.best SWEEP_DIR --retrain --seeds 3 --top 2 trainer.epochs=30

:func:`write_best` reads the sweep's record and study and writes the best trials' experiment
files; :func:`retrain_best` trains them again and writes the table. Every check (the sweep, the
study, the stored settings, the composed files, the overrides) passes before anything is
written.
"""

from __future__ import annotations

import logging
import os
import shlex
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fmnist.best.experiment import Composer, Experiment, searchpath_override
from fmnist.best.retrain import Retrained, retrain, write_tables
from fmnist.best.sweep import Sweep, SweepRecordError, Trial, best_trials, open_study, read_sweep
from fmnist.errors import ConfigError

__all__ = ["BEST_DIR", "BEST_FILE", "Prepared", "SweepRecordError", "prepare", "retrain_best", "write_best"]

log = logging.getLogger(__name__)

BEST_DIR, BEST_FILE = "best", "best.yaml"


def _name(trial: Trial) -> str:
    return f"trial_{trial.number}"


def _header(sweep: Sweep, trial: Trial, rank: int, best_dir: Path, name: str) -> list[str]:
    where = f"Optuna study {sweep.study_name!r} in {sweep.storage}"
    command = "python -m fmnist " + " ".join(shlex.quote(a) for a in [
        "--config-dir", str(best_dir), f"+experiment={name}", *searchpath_override(sweep.searchpath)])
    return [f"{'The best trial' if rank == 1 else f'Number {rank} by value'} of {where}",
            f"trial {trial.number}: {sweep.objective} = {trial.value!r}",
            f"run directory: {trial.run_dir}",
            f"swept: {' '.join(trial.swept) or '(nothing)'}",
            f"fixed: {' '.join(trial.fixed) or '(nothing)'}",
            "written by fmnist.best from the study; train it again with", f"  {command}"]


@dataclass(frozen=True)
class Prepared:
    """The best trials' experiment files, composed and checked, not yet written."""

    sweep: Sweep
    composer: Composer
    best: Experiment  #: ``best.yaml``
    experiments: list[Experiment]  #: ``experiment/trial_<number>.yaml``, best first

    @property
    def best_dir(self) -> Path:
        return self.sweep.path.absolute() / BEST_DIR

    def write(self, best_dir: Path) -> Path:
        """Write ``best.yaml``, ``experiment/best.yaml`` (a link to it, so that
        ``+experiment=best --config-dir BEST_DIR`` finds it) and the trials' files."""
        (best_dir / "experiment").mkdir(parents=True, exist_ok=True)
        _write(best_dir / BEST_FILE, self.best.text)
        link = best_dir / "experiment" / BEST_FILE
        if link.is_symlink() or link.exists():
            link.unlink()
        try:
            link.symlink_to(Path("..") / BEST_FILE)
        except OSError:  # no symbolic links here: a copy
            _write(link, self.best.text)
        for experiment in self.experiments:
            _write(best_dir / "experiment" / f"{_name(experiment.trial)}.yaml", experiment.text)
        return best_dir / BEST_FILE

    def seeds(self, experiment: Experiment, n: int) -> list[int]:
        """The trial's own seed and the ``n - 1`` next ones."""
        seed = experiment.config.get("seed", 0)
        if not isinstance(seed, int):
            raise SweepRecordError(f"trial {experiment.trial.number}: seed={seed!r} is not an integer")
        return [seed + i for i in range(n)]


def prepare(sweep_dir: str | Path, top: int = 1) -> Prepared:
    """Read the sweep and its study and build (and check) the ``top`` best trials' files."""
    if top < 1:
        raise ConfigError(f"--top must be >= 1, got {top}")
    sweep = read_sweep(sweep_dir)
    study = open_study(sweep)
    trials = best_trials(sweep, study, top)
    if len(trials) < top:
        log.warning("Only %d completed trial(s): --top %d takes them all", len(trials), top)
    best_dir = sweep.path.absolute() / BEST_DIR
    composer = Composer(sweep.searchpath)
    experiments = [Experiment.build(composer, t, _header(sweep, t, rank, best_dir, _name(t)))
                   for rank, t in enumerate(trials, start=1)]
    best = Experiment.build(composer, trials[0], _header(sweep, trials[0], 1, best_dir, "best"))
    return Prepared(sweep, composer, best, experiments)


def write_best(sweep_dir: str | Path, top: int = 1) -> Path:
    """Write ``SWEEP_DIR/best/best.yaml``: the best trial as a Hydra experiment file
    (``+experiment=best --config-dir SWEEP_DIR/best``); and, for each of the ``top`` best
    trials, ``SWEEP_DIR/best/experiment/trial_<number>.yaml``. Returns ``best.yaml``'s path."""
    prepared = prepare(sweep_dir, top)
    path = prepared.write(prepared.best_dir)
    trial = prepared.best.trial
    log.info("Best trial %d (%s = %s): %s", trial.number, prepared.sweep.objective, trial.value, path)
    return path


def _write(path: Path, text: str) -> None:
    """Write a sibling file, then rename it over ``path`` (no half-written file)."""
    part = path.with_name(path.name + ".part")
    part.write_text(text)
    os.replace(part, path)


def _check_runs(prepared: Prepared, best_dir: Path, seeds: int, overrides: Sequence[str]) -> None:
    """Compose each run's config as its process will and check it (``fmnist.validate``), so a
    bad override stops everything before the first run."""
    from fmnist.validate import validate

    for experiment in prepared.experiments:
        for seed in prepared.seeds(experiment, seeds):
            validate(prepared.composer.compose(
                [f"+experiment={_name(experiment.trial)}", f"seed={seed}", *overrides],
                extra_dirs=[str(best_dir)]))


def retrain_best(sweep_dir: str | Path, seeds: int = 1, top: int = 1,
                 overrides: Sequence[str] = ()) -> tuple[Path, list[Retrained]]:
    """Train the ``top`` best trials again, ``seeds`` times each (the trial's seed and the next
    ones), with ``overrides`` on top, into ``SWEEP_DIR/best/<trial>/<seed>/``; returns the
    Markdown table and the runs."""
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    bad = [o for o in overrides if o.lstrip("+~").split("=")[0] in ("seed", "hydra.run.dir")]
    if bad:
        raise ConfigError(f"{bad[0]!r}: fmnist.best sets each run's seed (--seeds) and directory")
    prepared = prepare(sweep_dir, top)
    with tempfile.TemporaryDirectory(prefix="fmnist-best-") as scratch:
        prepared.write(Path(scratch))  # checked there first: nothing is written on bad input
        _check_runs(prepared, Path(scratch), seeds, overrides)
    prepared.write(prepared.best_dir)
    results: list[Retrained] = []
    for experiment in prepared.experiments:
        results += retrain([(experiment.trial.number, _name(experiment.trial))], prepared.best_dir,
                           prepared.sweep.searchpath, prepared.seeds(experiment, seeds), overrides)
    values = {e.trial.number: e.trial.value for e in prepared.experiments}
    return write_tables(prepared.best_dir, results, values, prepared.sweep.objective), results
