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
    return _Simulation(start, workers, batch).run(max_epochs, max_time)


class _Simulation:
    """The event queue's state: epoch ends to come, the trial on each worker, what ended."""

    def __init__(self, start: Callable[[], Running | None], workers: int, batch: bool) -> None:
        self.start, self.workers, self.batch = start, workers, batch
        self.queue: list[tuple[float, int, int, int]] = []  # (time, order, worker, epoch) of epoch ends
        self.running: dict[int, tuple[int, Running]] = {}  # worker -> (trial, its Running)
        self.order = self.started = self.total = 0
        self.done: list[Completion] = []

    def launch(self, worker: int, now: float) -> None:
        trial = self.start()
        if trial is None:
            return
        if not trial.seconds:
            raise ValueError(f"trial {self.started} has no epochs to run")
        self.running[worker] = (self.started, trial)
        self.started += 1
        self.schedule(worker, now + trial.seconds[0], 1)

    def schedule(self, worker: int, when: float, epoch: int) -> None:
        heapq.heappush(self.queue, (when, self.order, worker, epoch))
        self.order += 1

    def run(self, max_epochs: int | None, max_time: float | None) -> list[Completion]:
        for worker in range(self.workers):
            self.launch(worker, 0.0)
        while self.queue:
            now, _, worker, epoch = heapq.heappop(self.queue)
            if (max_time is not None and now > max_time) or (max_epochs is not None
                                                              and self.total >= max_epochs):
                break
            self.epoch_end(now, worker, epoch)
        return self.done

    def epoch_end(self, now: float, worker: int, epoch: int) -> None:
        """Epoch ``epoch`` of the trial on ``worker`` ended: go on, or end it and start the next."""
        self.total += 1
        number, trial = self.running[worker]
        stop = trial.report(epoch)
        if not stop and epoch < len(trial.seconds):
            self.schedule(worker, now + trial.seconds[epoch], epoch + 1)
            return
        stopped = epoch < len(trial.seconds)
        trial.end(epoch, stopped)
        del self.running[worker]
        self.done.append(Completion(now, worker, number, epoch, stopped, self.total))
        if not self.batch:
            self.launch(worker, now)
        elif not self.running:  # the batch is over: all workers start the next one together
            for w in range(self.workers):
                self.launch(w, now)
