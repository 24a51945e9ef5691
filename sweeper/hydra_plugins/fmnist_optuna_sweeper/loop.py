"""The sweep's loop: each worker claims a trial under the study lock, launches its job and
tells the outcome, until the study holds ``n_trials`` trials, the failures stop it or Ctrl-C.
Its state (the trials' count target, the failures, why it stopped) is one :class:`SweepLoop`.

A trial the sweep claimed is never left RUNNING by the sweep's own failures: whatever goes
wrong before its job starts (the sampler raises, a WAITING trial holds a value outside its
distribution, ``custom_search_space`` raises, the job's overrides cannot be written) fails
that trial with the reason, marked ``never_started`` (it does not count towards
``n_trials``); a launch that fails is told FAIL with its error.

Trials are distinct (``distinct.py``): the first claim of a sweep that follows other trials
of its study reseeds a seeded sampler from the study's state, and a sampled parameter set that
a taken trial has is failed (``never_started``) and sampled again, then drawn at random.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import optuna
from hydra_plugins.fmnist_optuna_sweeper import distinct, records, stale, storage, workers
from hydra_plugins.fmnist_optuna_sweeper.outcome import Outcome
from hydra_plugins.fmnist_optuna_sweeper.plan import Plan, target_name
from hydra_plugins.fmnist_optuna_sweeper.search_space import active, fixed_params, suggest
from hydra_plugins.fmnist_optuna_sweeper.session import Session
from optuna.trial import TrialState

__all__ = ["SweepLoop"]

log = logging.getLogger(__name__)


def _reason(exc: BaseException) -> str:
    return f"the sweep failed before this trial's job started: {type(exc).__name__}: {exc}"


class SweepLoop:
    """Claim, launch, tell (see the module docstring). ``extender``: the
    ``custom_search_space`` function (or None); ``trial_overrides``: pass each job its
    trial's whereabouts (``optuna.*``)."""

    def __init__(self, session: Session, plan: Plan, *, config: Any, extender: Any,
                 heartbeat_interval: int | None, max_failure_rate: float,
                 trial_overrides: bool, allow_duplicates: bool = False) -> None:
        self.session, self.study, self.lock, self.plan = session, session.study, session.lock, plan
        self.space, self.fixed, self.n_trials = plan.space, fixed_params(plan.space), plan.n_trials
        self.config, self.extender = config, extender
        self.heartbeat_interval, self.trial_overrides = heartbeat_interval, trial_overrides
        self.failures = records.Failures(max_failure_rate)
        self.stop_reason: str | None = None
        self.interrupted = threading.Event()
        self.check_duplicates = not allow_duplicates and not target_name(plan.sampler).endswith(
            distinct.EXEMPT_SAMPLERS)
        self._seeded = False  # the sampler's seed follows the study's state (distinct.py)

    # ------------------------------------------------------------------ running

    def run(self, launches: list[workers.Launch]) -> None:
        """One worker per launch until done; Ctrl-C sets :attr:`interrupted`."""
        try:
            if len(launches) == 1:
                self.work(launches[0])
            else:
                self._parallel(launches)
        except KeyboardInterrupt:
            self.interrupted.set()
        finally:
            for launch in {id(launch): launch for launch in launches}.values():
                launch.close()  # jobs still running, launches still returning

    def _parallel(self, launches: list[workers.Launch]) -> None:
        """On Ctrl-C no worker claims another trial, the running jobs are interrupted and their
        trials told FAIL before this returns (jobs handed to a launcher run to their end)."""
        with ThreadPoolExecutor(max_workers=len(launches), thread_name_prefix="trial") as pool:
            futures = [pool.submit(self.work, launch) for launch in launches]
            try:
                for future in futures:
                    future.result()
            except KeyboardInterrupt:
                self.interrupted.set()
                log.warning("Ctrl-C: stopping the running jobs (a second Ctrl-C may leave "
                            "their trials RUNNING until a later sweep finds them stale)")
                unique = list({id(launch): launch for launch in launches}.values())
                for launch in unique:
                    launch.interrupt()
                for launch in unique:
                    launch.close()
                for future in futures:
                    future.result()

    def work(self, launch: workers.Launch) -> None:
        """One worker: claim, launch, tell, until :meth:`claim` says done."""
        while (trial := self.claim()) is not None:
            try:
                overrides = self.job_overrides(trial)
            except BaseException as exc:
                stale.fail_unstarted(self.study, trial._trial_id, _reason(exc))
                raise
            log.info("Trial %d: %s", trial.number, " ".join(
                f"{k}={workers.format_value(v)}" for k, v in trial.params.items()))
            with storage.heartbeat(self.session.store, trial._trial_id, self.heartbeat_interval):
                outcome, run_dir, interrupt = self._launch(launch, trial, overrides)
            self._tell(trial, outcome, run_dir)
            if interrupt is not None:
                raise interrupt

    def _launch(self, launch: workers.Launch, trial: optuna.Trial, overrides: list[str]
                ) -> tuple[Outcome, Any, KeyboardInterrupt | None]:
        interrupt: KeyboardInterrupt | None = None
        try:
            outcome, run_dir = launch(trial, overrides)
        except KeyboardInterrupt as exc:  # Ctrl-C during an in-process job
            self.interrupted.set()
            interrupt, outcome, run_dir = exc, Outcome(TrialState.FAIL), None
        except Exception as exc:  # the launcher itself broke: record, go on
            outcome, run_dir = Outcome(TrialState.FAIL, error=f"{type(exc).__name__}: {exc}"), None
        if self.interrupted.is_set() and outcome.state != TrialState.COMPLETE:
            outcome = Outcome(TrialState.FAIL, error=workers.INTERRUPTED)
        return outcome, run_dir, interrupt

    def _tell(self, trial: optuna.Trial, outcome: Outcome, run_dir: Any) -> None:
        with self.lock.thread_lock:
            outcome = records.tell(self.study, trial, outcome, run_dir)
            reason = self.failures.add(outcome)
            if reason and not self.stop_reason:
                self.stop_reason = reason
                log.error(reason)
            self.report(trial.number, outcome)

    # ------------------------------------------------------------------ claiming

    def count(self) -> int:
        """The trials taken: all but WAITING ones and those failed before their job started."""
        return sum(1 for t in self.study.get_trials(deepcopy=False)
                   if t.state != TrialState.WAITING and not stale.never_started(t))

    def _running(self) -> set[int]:
        return {t._trial_id for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}

    def claim(self) -> optuna.Trial | None:
        """The next trial with its parameters (an enqueued one first), or None when done. A
        trial whose sampling failed is failed now, with the reason, not left RUNNING; one whose
        parameters repeat a taken trial's is failed and sampled again (``distinct.py``)."""
        with self.lock():
            if self.stop_reason or self.interrupted.is_set() or self.count() >= self.n_trials:
                return None
            if not self._seeded:
                self._seeded = True
                self._reseed()
            for attempt in range(distinct.RESAMPLES + 1):
                trial = self._ask(at_random=attempt == distinct.RESAMPLES)
                if (twin := self._duplicate(trial)) is None:
                    return trial
                if attempt == distinct.RESAMPLES:
                    log.warning("Trial %d repeats the parameters of trial %d even drawn at random "
                                "(is every point of the search space taken?): running it",
                                trial.number, twin)
                    return trial
                stale.fail_unstarted(self.study, trial._trial_id, f"{distinct.DUPLICATE} {twin}")
            return None  # not reached: the last attempt returns

    def _reseed(self) -> None:
        """A sweep that starts after others' trials samples from a stream of its own."""
        taken = sum(1 for t in self.study.get_trials(deepcopy=False) if t.state != TrialState.WAITING)
        if self.plan.reseed is None or self.plan.seed is None or not taken:
            return
        seed = distinct.derived_seed(self.plan.seed, taken)
        self.study.sampler = self.plan.reseed(seed)
        log.info("Sampler seed %d, derived from seed %d and the %d trial(s) already in the study "
                 "(a resumed or concurrent sweep does not repeat earlier samples)",
                 seed, self.plan.seed, taken)

    def _duplicate(self, trial: optuna.Trial) -> int | None:
        """The number of a taken trial with the same parameters as ``trial``, when that matters."""
        if not self.check_duplicates:
            return None
        trials = self.study.get_trials(deepcopy=False)
        frozen = next(t for t in trials if t._trial_id == trial._trial_id)
        if distinct.is_enqueued(frozen):
            return None
        return distinct.duplicate_of(frozen.params, trial._trial_id, trials)

    def _ask(self, at_random: bool = False) -> optuna.Trial:
        """Ask the study for a trial and complete its parameters; ``at_random``: drawn by a
        random sampler (logged), after duplicates."""
        sampler = self.study.sampler
        if at_random:
            taken = len(self.study.get_trials(deepcopy=False))
            seed = None if self.plan.seed is None else distinct.derived_seed(self.plan.seed, taken)
            self.study.sampler = optuna.samplers.RandomSampler(seed=seed)
            log.warning("Sampled %d times parameters that a trial already has: drawing them at random",
                        distinct.RESAMPLES)
        before = self._running()
        try:
            with storage.quiet():
                trial = self.study.ask(self.space.distributions)
        except BaseException as exc:
            # the trial that ask() created or took from the queue; the study lock keeps
            # other sweeps from asking meanwhile
            for trial_id in self._running() - before:
                stale.fail_unstarted(self.study, trial_id, _reason(exc))
            raise
        finally:
            self.study.sampler = sampler
        try:
            self._complete(trial)
        except BaseException as exc:
            stale.fail_unstarted(self.study, trial._trial_id, _reason(exc))
            raise
        return trial

    def _complete(self, trial: optuna.Trial) -> None:
        """The conditional parameters, the fixed ones (as user attributes, as the official
        plugin records them) and the custom search space."""
        with storage.quiet():
            values = dict(trial.params)
            for param in self.space.conditional:
                if active(param, values):
                    values[param.name] = suggest(trial, param)
            for key, value in self.fixed.items():
                trial.set_user_attr(key, value)
            if self.extender is not None:
                self.extender(self.config, trial)
        overlap = sorted(trial.params.keys() & self.fixed.keys())
        if overlap:
            raise ValueError("Overlapping fixed parameters and search space parameters "
                             f"found! Overlapping parameters: {overlap}")

    def job_overrides(self, trial: optuna.Trial) -> list[str]:
        overrides = list(self.space.fixed)
        overrides += [f"{self.space.key(k)}={workers.format_value(v)}" for k, v in trial.params.items()]
        if self.trial_overrides:
            overrides += [
                f"++optuna.storage={workers.format_value(self.session.masked_url)}",
                f"++optuna.study_name={workers.format_value(self.study.study_name)}",
                f"++optuna.trial_id={trial._trial_id}",
                f"++optuna.trial_number={trial.number}",
            ]
        return overrides

    # ------------------------------------------------------------------ reporting

    def report(self, number: int, outcome: Outcome) -> None:
        trials = self.study.get_trials(deepcopy=False)
        done = sum(1 for t in trials if t.state.is_finished())
        value = ", ".join(f"{v:.5g}" for v in outcome.values) if outcome.values else "-"
        message = f": {outcome.error.splitlines()[-1][:200]}" if outcome.error else ""
        log.info("Trial %d %s value %s | %s | %d/%d trials done%s", number, outcome.state.name,
                 value, self._best(trials), done, self.n_trials, message)
        if outcome.state == TrialState.FAIL and outcome.traceback:
            log.error("Trial %d failed:\n%s", number, outcome.traceback.rstrip())

    def _best(self, trials: list[optuna.trial.FrozenTrial]) -> str:
        if len(self.study.directions) > 1:
            return f"{sum(t.state == TrialState.COMPLETE for t in trials)} complete"
        sign = 1.0 if self.study.direction.name == "MINIMIZE" else -1.0
        complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        best = min(complete, key=lambda t: sign * float(t.value or 0.0), default=None)
        return f"best {best.value:.5g} (trial {best.number})" if best else "best -"

    def verdict(self, max_failure_rate: float) -> str | None:
        """Why the sweep failed, if it did (``max_failure_rate`` 1.0: failures never fail it)."""
        reason = self.stop_reason or self.failures.all_failed()
        if reason and not self.stop_reason and max_failure_rate >= 1.0:
            # failures never stop the sweep nor fail it (the official plugin returns normally)
            log.error("%s (max_failure_rate=1.0: the sweep ends normally)", reason)
            return None
        return reason
