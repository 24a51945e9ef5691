"""What a pruner would have done to a finished unpruned study: its trials' per-epoch validation
curves are reported again, in the same order, to a fresh in-memory study with that pruner,
with fmnist's step semantics (step = epochs completed; never pruned at the last epoch).

Training is deterministic for given parameters and seed, so a trial's curve up to the epoch
where it would be pruned is the curve it reports in a real pruned sweep that runs the same
parameters in the same order (``bench/pruning.py`` runs that sweep and checks the two agree).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import optuna

__all__ = ["Curve", "Replayed", "curves_of", "replay", "summarise"]


@dataclass(frozen=True)
class Curve:
    """One finished trial: its validation value after each epoch, and its final value (None:
    the trial failed)."""

    values: tuple[float, ...]
    final: float | None


@dataclass(frozen=True)
class Replayed:
    """What the pruner did to one trial: the epochs it ran, and its value if it completed."""

    epochs: int
    pruned: bool
    value: float | None


def curves_of(study: optuna.Study) -> list[Curve]:
    """The curves of a study's finished trials, by trial number."""
    curves = []
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        if not trial.state.is_finished():
            continue
        steps = sorted(trial.intermediate_values)
        final = trial.value if trial.state == optuna.trial.TrialState.COMPLETE else None
        curves.append(Curve(tuple(trial.intermediate_values[s] for s in steps), final))
    return curves


def replay(curves: Sequence[Curve], pruner: optuna.pruners.BasePruner, epochs: int, *,
           study_name: str = "pruned", direction: str = "maximize") -> list[Replayed]:
    """Each curve reported epoch by epoch to a study with ``pruner``; a trial stops at the
    first epoch before ``epochs`` where the pruner says so. ``study_name`` matters to
    Hyperband, which picks a trial's bracket from it."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=study_name, direction=direction, pruner=pruner)
    out = []
    for curve in curves:
        trial = study.ask()
        for step, value in enumerate(curve.values, start=1):
            trial.report(value, step)
            if step < epochs and trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                out.append(Replayed(step, True, None))
                break
        else:
            if curve.final is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, curve.final)
            out.append(Replayed(len(curve.values), False, curve.final))
    return out


def summarise(replayed: Sequence[Replayed], curves: Sequence[Curve]) -> dict[str, object]:
    """Epochs spent against the unpruned study's, the best value kept, and whether the
    unpruned study's best trial completed."""
    spent, full = sum(r.epochs for r in replayed), sum(len(c.values) for c in curves)
    finals = [(c.final, i) for i, c in enumerate(curves) if c.final is not None]
    best_value, best_index = max(finals)
    kept = [(r.value, i) for i, r in enumerate(replayed) if r.value is not None]
    best_kept, kept_index = max(kept)
    return {"epochs": spent, "share": spent / full, "best": best_kept, "best_trial": kept_index,
            "unpruned_best": best_value, "unpruned_best_trial": best_index,
            "kept_best": not replayed[best_index].pruned,
            "pruned": sum(r.pruned for r in replayed),
            "gap_points": 100 * (best_value - best_kept)}
