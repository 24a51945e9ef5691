"""bench/sweep_quality: the event-queue simulator, the replay of samplers and pruners on a
recorded table, the statistics, and the regression test of the shipped search on the replay
data (default sampler + pruner beat random search at 1/3 of the budget)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra_plugins.fmnist_optuna_sweeper.search_space import parse_search_space

from tests.test_pruning import CASES, _decisions  # (and tests.conftest: FMNIST_DATA_DIR made absolute)

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))

from sweep_quality.compare import headline, methods, preset_of, run_all, table_path  # noqa: E402
from sweep_quality.replay import Method, Nearest, replay  # noqa: E402
from sweep_quality.simulate import simulate  # noqa: E402
from sweep_quality.stats import band, first_reach, iqm  # noqa: E402
from sweep_quality.table import Recorded, TableError, append, read_meta, read_table  # noqa: E402

TABLE = table_path("convnet")


class _Run:
    """A hand-made table's configuration on a worker: stops after ``stop_after`` epochs."""

    def __init__(self, name: str, seconds: tuple[float, ...], stop_after: int | None = None) -> None:
        self.name, self.seconds, self.stop_after = name, seconds, stop_after
        self.reports: list[int] = []

    def report(self, epoch: int) -> bool:
        self.reports.append(epoch)
        return self.stop_after is not None and epoch >= self.stop_after

    def end(self, epochs: int, stopped: bool) -> None:
        pass


def _hand_made() -> list[_Run]:
    # A: 3 epochs of 1 s; B: 3 epochs of 2 s; C: 0.5 s epochs, stopped (pruned) after its first
    return [_Run("A", (1.0, 1.0, 1.0)), _Run("B", (2.0, 2.0, 2.0)), _Run("C", (0.5, 0.5, 0.5), 1)]


@pytest.mark.parametrize(("batch", "max_epochs", "expected"), [
    # asynchronous: C takes A's worker at t=3 and is stopped at 3.5; B ends at 6.
    # (epochs run by then, all workers: A's 3 + B's first = 4, then C's 1, then B's last two)
    (False, None, [("A", 3.0, 0, 3, False, 4), ("C", 3.5, 0, 1, True, 5), ("B", 6.0, 1, 3, False, 7)]),
    # batches of 2 (the official plugin): C waits for B, the batch's slowest trial
    (True, None, [("A", 3.0, 0, 3, False, 4), ("B", 6.0, 1, 3, False, 6), ("C", 6.5, 0, 1, True, 7)]),
    # a budget of 5 epochs: B is cut off after its second epoch and never completes
    (False, 5, [("A", 3.0, 0, 3, False, 4), ("C", 3.5, 0, 1, True, 5)]),
])
def test_simulator_orders_completions_on_the_simulated_clock(batch, max_epochs, expected) -> None:
    runs = _hand_made()
    queue = iter(runs)
    done = simulate(lambda: next(queue, None), 2, batch=batch, max_epochs=max_epochs)
    got = [(runs[c.trial].name, c.time, c.worker, c.epochs, c.stopped, c.total_epochs) for c in done]
    assert got == expected


def test_simulator_rejects_no_workers() -> None:
    with pytest.raises(ValueError, match="workers must be >= 1, got workers=0"):
        simulate(lambda: None, 0)


def _table(curves: list[list[float]]) -> list[Recorded]:
    return [Recorded(i, {"x": float(i)}, tuple(c), tuple(1.0 for _ in c), None)
            for i, c in enumerate(curves)]


@pytest.mark.parametrize("case", list(CASES))
def test_replayed_pruner_decides_as_a_real_job(tmp_path: Path, case: str) -> None:
    """The completed trials' curves, then the new trial's, replayed (enqueued in that order) with
    the pruner stop the new trial where a real job's callback (fmnist.pruning.OptunaPruning on
    a SQLite study) stops it."""
    spec, completed, curve, epochs, expected = CASES[case]
    real = _decisions(tmp_path, spec, completed, curve, epochs)
    assert real == expected
    recorded = _table([*completed, curve[:epochs]])
    space = parse_search_space({"x": f"interval(0, {len(recorded)})"})
    method = Method("m", {"_target_": "optuna.samplers.RandomSampler"}, spec or {},
                    enqueue=tuple(r.params for r in recorded))
    budget = sum(min(len(r.values), epochs) for r in recorded)
    trace = replay(method, space, Nearest(space, recorded), epochs=epochs, budget=budget, seed=0)
    ran = trace.ran[:len(recorded)]  # then the budget left goes to sampled trials
    *before, last = ran
    assert [r[0] for r in ran] == list(range(len(recorded)))  # each config, in order
    assert not any(pruned for _, _, pruned in before)  # the completed ones completed
    assert last[1:] == (len(real), real[-1])


def test_nearest_normalises_ranges_and_log_scales() -> None:
    space = parse_search_space({"lr": "tag(log, interval(1e-4, 1e-1))", "w": "choice(8, 16)",
                                "p": "interval(0.0, 1.0)"})
    recorded = [Recorded(0, {"lr": 1e-4, "w": 8, "p": 0.5}, (0.5,), (1.0,)),
                Recorded(1, {"lr": 1e-2, "w": 8, "p": 0.5}, (0.6,), (1.0,)),
                Recorded(2, {"lr": 1e-2, "w": 16, "p": 0.5}, (0.7,), (1.0,))]
    nearest = Nearest(space, recorded)
    # 3e-3 is linearly nearer 1e-4 than 1e-2 is... no: on a log scale it is nearer 1e-2
    assert nearest({"lr": 3e-3, "w": 8, "p": 0.0}).config == 1
    assert nearest({"lr": 3e-4, "w": 8, "p": 0.5}).config == 0
    assert nearest({"lr": 1e-2, "w": 16, "p": 1.0}).config == 2  # the choice outweighs p


def test_table_round_trip_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    rows = [Recorded(0, {"a": 0.25, "w": 16, "kind": "x"}, (0.5, 0.6), (1.5, 1.25), 0.61),
            Recorded(3, {"a": 1e-4, "w": 8, "kind": "y"}, (0.4,), (2.0,), None)]
    append(path, rows[:1], ["a", "w", "kind"])
    append(path, rows[1:], ["a", "w", "kind"])
    assert read_table(path) == rows
    path.write_text(path.read_text().replace("0,2,", "0,3,"))
    with pytest.raises(TableError, match=r"config 0 must have epochs 1..2, got \[1, 3\]"):
        read_table(path)
    with pytest.raises(TableError, match="as many epoch times as values"):
        Recorded(0, {}, (0.5,), ())


@pytest.mark.parametrize(("values", "expected"), [
    ([1.0, 2.0, 3.0, 4.0], 2.5),
    ([0.0, 0.0, 10.0, 10.0, 10.0, 10.0, 0.0, 1000.0], 7.5),  # 2 trimmed each side
    ([5.0], 5.0),
])
def test_interquartile_mean(values, expected) -> None:
    assert float(iqm(values)) == pytest.approx(expected)


def test_band_brackets_the_iqm_and_first_reach() -> None:
    rng = np.random.default_rng(0)
    curves = np.maximum.accumulate(rng.random((30, 20)), axis=1)
    b = band(curves)
    assert np.all(b.low <= b.iqm + 1e-12) and np.all(b.iqm <= b.high + 1e-12)
    assert np.all(np.diff(b.iqm) >= -1e-12)  # best-so-far only grows
    assert first_reach([1, 2, 3], [0.1, 0.2, 0.3], 0.25) == 3.0
    assert first_reach([1, 2, 3], [0.1, 0.2, 0.3], 0.5) == float("inf")


def test_headline_counts_wins_at_a_third_and_reach() -> None:
    from sweep_quality.compare import Result

    def result(curves: list[list[float]]) -> Result:
        c = np.array(curves)
        return Result(Method("m", {}), [], c, band(c))

    # budget 6 epochs: index 2 is 1/3; random's median full-budget best is 0.8
    random = result([[0, 0.5, 0.6, 0.7, 0.7, 0.8], [0, 0.5, 0.5, 0.6, 0.8, 0.8],
                     [0, 0.4, 0.6, 0.7, 0.9, 0.9]])
    default = result([[0, 0.6, 0.8, 0.8, 0.8, 0.8], [0, 0.5, 0.5, 0.9, 0.9, 0.9],
                      [0, 0.3, 0.7, 0.7, 0.7, 0.7]])
    r, k, n = headline(default, random)
    assert (k, n) == (2, 3)  # 0.8 > 0.6, 0.5 = 0.5, 0.7 > 0.6
    assert r == pytest.approx(3 / 5)  # reaches 0.8 at 2/5, 3/5, never -> median 3/5


@pytest.fixture(scope="module")
def recorded_table():
    if not TABLE.exists():
        pytest.skip(f"{TABLE} not recorded")
    return read_table(TABLE), preset_of(read_meta(TABLE))


def test_shipped_search_beats_random_at_a_third_of_the_budget(recorded_table) -> None:
    """The regression test on the replay data: the shipped default sampler + pruner reach a
    better median best-so-far than random search at 1/3 of the budget (the preset's sweep:
    n_trials full trials), over 30 repetitions. Replays are causal: running to 1/3 of the
    budget is enough."""
    recorded, preset = recorded_table
    chosen = methods(preset, alternatives=False)[:2]
    assert [m.name for m in chosen] == ["default", "random"]
    third = preset.n_trials * preset.epochs // 3
    results = run_all(chosen, preset, recorded, budget=third, repetitions=30, jobs=1)
    default, random = (float(np.median(results[n].curves[:, -1])) for n in ("default", "random"))
    assert default > random, (
        f"at 1/3 of the budget ({third} epochs) the shipped search's median best-so-far is "
        f"{default:.4f}, random search's {random:.4f}: the default must be better")


def test_replay_command_prints_the_headline(recorded_table) -> None:
    out = subprocess.run([sys.executable, str(BENCH / "sweep_quality.py"), "--replay", "--repetitions",
                          "3", "--budget-trials", "6", "--jobs", "1"],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"replay: default reaches random's full-budget best at "
                        r"(\d\.\d\d|never \(within the budget\)) of the budget; "
                        r"beats random at 1/3 budget in \d+/3 repetitions", last), last


def test_recorder_configurations_are_fixed_and_resume(tmp_path: Path, monkeypatch) -> None:
    """Configuration i is the same on every run (enqueued first, then seeded draws), and a
    resumed recorder trains only the ids not yet in the table; the training itself is
    replaced by a fixed curve here (the recorder's training is fmnist.app.run, covered by the
    app's own tests)."""
    import sweep_quality.record as record_module
    from sweep_quality.preset import load_preset

    preset = load_preset("convnet", ["trainer.epochs=2"])
    first = record_module.configurations(preset, 4, seed=0)
    assert first == record_module.configurations(preset, 4, seed=0)
    assert first[0] == dict(preset.enqueue[0])
    assert first[1] != record_module.configurations(preset, 4, seed=1)[1]
    trained: list[dict] = []

    def fake_train(preset, params, work):
        trained.append(params)
        return [0.5, 0.6], [1.0, 1.0], 0.55

    monkeypatch.setattr(record_module, "_train", fake_train)
    table = tmp_path / "replay.csv"
    assert record_module.record(table, preset, 2) == 2
    assert record_module.record(table, preset, 4) == 2
    assert trained == first
    assert [r.config for r in read_table(table)] == [0, 1, 2, 3]
    other = load_preset("convnet", ["trainer.epochs=3"])
    with pytest.raises(ValueError, match="was recorded with"):
        record_module.record(table, other, 5)


def _trials(*values: float | None, epochs: int = 2) -> list:
    from sweep_quality.live import LiveTrial

    return [LiveTrial(epochs, epochs * (i + 1), v, None, 1.0) for i, v in enumerate(values)]


@pytest.mark.parametrize(("ours", "theirs", "expected"), [
    ((0.5, 0.8, 0.9), (0.6, 0.7, 0.8), 4 / 6),   # ours matches their best (0.8) after 4 of their 6 epochs
    ((0.9, 0.1, 0.1), (0.6, 0.7, 0.8), 2 / 6),   # better at once
    ((None, 0.8), (0.8, None, 0.1), 4 / 6),      # a pruned trial never counts
    ((0.5, 0.6), (0.6, 0.7, 0.8), float("inf")),  # never
])
def test_live_reach_is_the_share_of_random_epochs(ours, theirs, expected) -> None:
    from sweep_quality.live import reach

    assert reach(_trials(*ours), _trials(*theirs)) == pytest.approx(expected)


def test_live_results_resume_rerun_a_changed_method_and_refuse_another_setting(tmp_path: Path) -> None:
    import json
    from dataclasses import asdict

    from sweep_quality.live import _done

    setting = {"preset": "convnet", "overrides": ["trainer.epochs=6"], "budget": 96}
    specs = {"fmnist": {"sampler": {"n_startup_trials": 5}}, "random": {}}
    path = tmp_path / "live.jsonl"
    assert _done(path, setting, specs) == {}
    rows = [{"setting": setting, "seed": s, "method": m, "spec": specs[m],
             "trials": [asdict(t) for t in _trials(0.5, None)]} for s, m in ((0, "fmnist"), (1, "random"))]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    done = _done(path, setting, specs)
    assert sorted(done) == [(0, "fmnist"), (1, "random")]
    assert [t.value for t in done[(0, "fmnist")]] == [0.5, None]
    changed = {**specs, "fmnist": {"sampler": {"n_startup_trials": 2}}}
    assert sorted(_done(path, setting, changed)) == [(1, "random")]  # fmnist's search runs again
    with pytest.raises(SystemExit, match=r"line 1 was run with .*'budget': 96.*not .*'budget': 48"):
        _done(path, {**setting, "budget": 48}, specs)


@pytest.mark.slow
def test_live_mode_runs_every_method_on_a_tiny_budget(tmp_path: Path) -> None:
    """Live mode, for real: one seed, one-epoch trials on a few hundred images (Keras Tuner
    too when KERAS_TUNER_PATH names its install)."""
    import os

    command = [sys.executable, str(BENCH / "sweep_quality.py"), "--seeds", "1", "--budget-trials", "2",
               "--epochs", "1", "--train-size", "300", "--eval-size", "200", "--out", str(tmp_path)]
    if os.environ.get("KERAS_TUNER_PATH"):
        command += ["--keras-tuner", os.environ["KERAS_TUNER_PATH"]]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=1800).stdout
    methods = ("fmnist", "random", "official", *(("keras_tuner", "keras_tuner+bn")
                                                 if os.environ.get("KERAS_TUNER_PATH") else ()))
    for method in methods:
        assert re.search(rf"^{re.escape(method)} .*\d+\.\d\d", out, re.MULTILINE), out
    assert re.search(r"^live: fmnist reaches random's full-budget best at (\d\.\d\d|never) of random's "
                     r"epochs .*; test of the pick \(median\): fmnist \d+\.\d\d %", out, re.MULTILINE), out
    rerun = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600).stdout
    assert f"{len(methods)} searches already in" in rerun and " trial " not in rerun  # resumed: nothing ran
    assert (tmp_path / "best_so_far.png").stat().st_size > 0
    assert (tmp_path / "live.json").exists()
