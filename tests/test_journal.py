"""fmnist sweeps on a journal file: the study lock (three sweeps share one study exactly once,
as with PostgreSQL) and the dashboard (the storage itself: sweeper/tests/test_journal.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_sweeper import _check_dashboard, three_sweeps_share_one_study


@pytest.mark.slow  # suite time: a faster sibling keeps the feature in the default run
def test_three_workers_share_one_study_through_a_journal_file(tmp_path: Path) -> None:
    trials = three_sweeps_share_one_study(tmp_path, f"journal://{tmp_path / 'shared.log'}")
    assert all(sorted(t.intermediate_values) == [1, 2] for t in trials)  # pruning reports
    # optuna-dashboard reads the journal file by its path
    _check_dashboard(str(tmp_path / "shared.log"), "shared", n_trials=7)
