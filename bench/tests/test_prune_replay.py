"""``bench/prune_replay.py`` (what ``bench/pruning.py`` tabulates for every pruner) decides as
a real job's pruning callback does, on every case of ``tests/test_pruning.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fmnist.pruning import pruner_from_spec
from tests.test_pruning import CASES

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prune_replay import Curve, replay


@pytest.mark.parametrize("case", list(CASES))
def test_the_benchmarks_replay_decides_as_a_job_does(case: str) -> None:
    """``bench/prune_replay.py`` (what bench/pruning.py tabulates for every pruner) stops each
    trial at the epoch where a real job's callback would stop."""

    spec, completed, curve, epochs, expected = CASES[case]
    curves = [Curve(tuple(c), max(c)) for c in completed]
    curves.append(Curve(tuple(curve[:epochs]), max(curve[:epochs])))
    last = replay(curves, pruner_from_spec(spec), epochs)[-1]
    assert (last.epochs, last.pruned) == (len(expected), expected[-1])
