"""How a job ended (:class:`Outcome`), and telling it to the study (:func:`tell`): the one
function both sides use, the sweep after its job returned and a job that records its own
result before it exits, so a trial is finished once whichever side comes first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

__all__ = ["Outcome", "outcome_of", "tell"]


class Outcome:
    """How a job ended. (A plain class: Hydra's plugin scan runs this module outside
    ``sys.modules``, where dataclasses with postponed annotations fail.)"""

    def __init__(self, state: TrialState, values: list[float] | None = None,
                 error: str | None = None, traceback: str | None = None) -> None:
        self.state, self.values, self.error = state, values, error
        self.traceback = traceback  # of a failed job: where it raised (file and line)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        return cls(TrialState[data["state"]], data.get("values"), data.get("error"),
                   data.get("traceback"))

    def __repr__(self) -> str:
        return f"Outcome({self.state.name}, values={self.values}, error={self.error!r})"


def outcome_of(trial: FrozenTrial) -> Outcome:
    """The outcome a finished trial holds (told by its job, or by another sweep)."""
    error = trial.user_attrs.get("error") or trial.user_attrs.get("message")
    return Outcome(trial.state, list(trial.values) if trial.values is not None else None,
                   str(error) if error else None)


def _checked(outcome: Outcome, n_values: int) -> Outcome:
    """A COMPLETE outcome with the wrong number of values becomes FAIL."""
    if outcome.state == TrialState.COMPLETE and len(outcome.values or []) != n_values:
        return Outcome(TrialState.FAIL, error=(
            f"the job returned {len(outcome.values or [])} value(s) {outcome.values}, "
            f"the study has {n_values} direction(s)"))
    return outcome


def tell(study: optuna.Study, trial: optuna.Trial, outcome: Outcome, run_dir: Path | None) -> Outcome:
    """Record the job's directory and error on the trial, then tell its state. Returns the
    outcome told (a COMPLETE with the wrong number of values becomes FAIL); a trial that is
    finished already (its job told it) keeps its state, and that is returned."""
    stored = study._storage.get_trial(trial._trial_id)
    if stored.state.is_finished():
        return outcome_of(stored)
    outcome = _checked(outcome, len(study.directions))
    try:
        if run_dir is not None:
            trial.set_user_attr("run_dir", str(run_dir))
        if outcome.error:
            trial.set_user_attr("error" if outcome.state == TrialState.FAIL else "message",
                                outcome.error[-2000:])
        if outcome.state == TrialState.COMPLETE:
            study.tell(trial, outcome.values)
        else:
            study.tell(trial, state=outcome.state)
    except optuna.exceptions.UpdateFinishedTrialError:
        return outcome_of(study._storage.get_trial(trial._trial_id))  # finished meanwhile
    except RuntimeError as exc:
        # GridSampler/BruteForceSampler call study.stop() once the grid is done; the trial's
        # state is already stored, and the sweep ends on its own (n_trials is capped); a trial
        # finished meanwhile by its job is kept as the job told it
        stored = study._storage.get_trial(trial._trial_id)
        if "Study.stop" in str(exc):
            return outcome
        if stored.state.is_finished():
            return outcome_of(stored)
        raise
    return outcome
