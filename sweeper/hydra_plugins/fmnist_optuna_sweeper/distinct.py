"""Distinct trials: a resumed or concurrent sweep never replays the sampler's earlier random
stream, and a parameter set already run is not run again (unless ``allow_duplicates``).

* **Seeds**: a sweep whose first trial comes after ``taken`` trials of its study (counted under
  the study lock, so concurrent sweeps count differently) samples with
  :func:`derived_seed` ``(seed, taken)``: the configured seed itself for a fresh study, so a
  fresh seeded sweep samples exactly what it always did; a seed derived from both otherwise.
* **Duplicates**: a sampled parameter set equal to that of a COMPLETE, PRUNED or RUNNING trial
  is failed before its job starts (``never_started``: it does not count towards ``n_trials``)
  and sampled again, up to :data:`RESAMPLES` times, then drawn at random once (logged); a grid
  or brute-force sampler and enqueued trials are exempt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from hydra_plugins.fmnist_optuna_sweeper import stale
from optuna.trial import FrozenTrial, TrialState

__all__ = ["DUPLICATE", "EXEMPT_SAMPLERS", "RESAMPLES", "derived_seed", "duplicate_of", "is_enqueued",
           "seed_of"]

#: the error of a trial failed because its parameters repeat a taken trial's (and its number)
DUPLICATE = "duplicate: sampled again, as its parameters repeat those of trial"
#: samplings of a duplicate before one random draw
RESAMPLES = 3
#: samplers whose trials are exempt: they enumerate a grid, and keep it distinct themselves
EXEMPT_SAMPLERS = ("GridSampler", "BruteForceSampler")
_TAKEN_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


def derived_seed(seed: int, taken: int) -> int:
    """The sampler's seed for a sweep whose first trial follows ``taken`` trials of its study:
    ``seed`` when ``taken`` is 0 (a fresh study samples as it always did), else a 32-bit seed
    derived from both (no two starting points share a stream; ``seed + taken`` would collide
    with the seed ``seed + 1`` of another study)."""
    if taken < 0:
        raise ValueError(f"taken must be >= 0, got taken={taken}")
    if taken == 0:
        return seed
    digest = hashlib.sha256(f"{seed}/{taken}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def seed_of(sampler_cfg: Any) -> int | None:
    """The configured integer ``seed`` of a sampler's config node (None: unseeded, a sampler
    passed as an object, or an exempt one)."""
    if not isinstance(sampler_cfg, Mapping):
        return None
    if str(sampler_cfg.get("_target_") or "").endswith(EXEMPT_SAMPLERS):
        return None
    seed = sampler_cfg.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def is_enqueued(trial: FrozenTrial) -> bool:
    """Whether the trial's parameters were given (``enqueue``), not sampled."""
    return "fixed_params" in trial.system_attrs


def duplicate_of(params: Mapping[str, Any], trial_id: int, trials: Iterable[FrozenTrial]) -> int | None:
    """The number of a COMPLETE, PRUNED or RUNNING trial (other than ``trial_id``, and not
    failed before its job started) whose parameters are exactly ``params``, else None."""
    for t in trials:
        if (t._trial_id != trial_id and t.state in _TAKEN_STATES and not stale.never_started(t)
                and t.params == dict(params)):
            return t.number
    return None
