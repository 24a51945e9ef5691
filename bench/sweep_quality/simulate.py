"""An event queue of asynchronous workers on simulated time (as Syne Tune's simulator backend).

Each worker runs one trial at a time, epoch by epoch; an epoch ends ``seconds[epoch]`` after the
previous one. At every epoch end the trial reports and may stop (pruned, or its last epoch);
its worker then takes the next trial at once (asynchronous), or, in ``batch`` mode, waits until
every trial of its batch has ended (the official plugin's batches of ``n_jobs``). Simultaneous
events are handled in the order they were scheduled. Nothing sleeps: a sweep of hours replays
in milliseconds.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Completion", "Running", "simulate"]


class Running(Protocol):
    """A trial a worker runs: its epoch times, and what it does at each epoch end."""

    @property
    def seconds(self) -> Sequence[float]:
        """Wall time of each epoch of its full budget."""
        ...

    def report(self, epoch: int) -> bool:
        """Epoch ``epoch`` (1-based) has ended: report it; True when the trial should stop."""
        ...

    def end(self, epochs: int, stopped: bool) -> None:
        """The trial ended after ``epochs`` epochs; ``stopped``: before its full budget."""
        ...


@dataclass(frozen=True)
class Completion:
    """A trial that ended: when (simulated seconds), on which worker, its start order, the epochs
    it ran, whether it stopped early, and the epochs all workers had run by then."""

    time: float
    worker: int
    trial: int
    epochs: int
    stopped: bool
    total_epochs: int


def simulate(start: Callable[[], Running | None], workers: int, *, max_epochs: int | None = None,
             max_time: float | None = None, batch: bool = False) -> list[Completion]:
    """Runs trials from ``start`` (None: no more) on ``workers`` workers until none is left, or
    ``max_epochs`` epochs have run in all, or the clock passes ``max_time``; trials still
    running then are cut off (they never end). Returns the completions in time order.

    >>> class T:
    ...     seconds = (1.0, 1.0)
    ...     def report(self, epoch): return False
    ...     def end(self, epochs, stopped): pass
    >>> trials = iter([T(), T(), T()])
    >>> [(c.time, c.worker) for c in simulate(lambda: next(trials, None), 2)]
    [(2.0, 0), (2.0, 1), (4.0, 0)]
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got workers={workers}")
    if max_epochs is not None and max_epochs < 0:
        raise ValueError(f"max_epochs must be >= 0, got max_epochs={max_epochs}")
    queue: list[tuple[float, int, int, int]] = []  # (time, order, worker, epoch) of epoch ends
    running: dict[int, tuple[int, Running]] = {}  # worker -> (trial, its Running)
    order = 0
    started = 0
    total = 0
    done: list[Completion] = []

    def launch(worker: int, now: float) -> None:
        nonlocal order, started
        trial = start()
        if trial is None:
            return
        if not trial.seconds:
            raise ValueError(f"trial {started} has no epochs to run")
        running[worker] = (started, trial)
        started += 1
        heapq.heappush(queue, (now + trial.seconds[0], order, worker, 1))
        order += 1

    for worker in range(workers):
        launch(worker, 0.0)
    while queue:
        now, _, worker, epoch = heapq.heappop(queue)
        if (max_time is not None and now > max_time) or (max_epochs is not None and total >= max_epochs):
            break
        total += 1
        number, trial = running[worker]
        stop = trial.report(epoch)
        if not stop and epoch < len(trial.seconds):
            heapq.heappush(queue, (now + trial.seconds[epoch], order, worker, epoch + 1))
            order += 1
            continue
        stopped = epoch < len(trial.seconds)
        trial.end(epoch, stopped)
        del running[worker]
        done.append(Completion(now, worker, number, epoch, stopped, total))
        if not batch:
            launch(worker, now)
        elif not running:  # the batch is over: all workers start the next one together
            for w in range(workers):
                launch(w, now)
    return done
