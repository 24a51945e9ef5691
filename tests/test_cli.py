"""The command line as a user meets it: the console script from another directory, our help,
config errors that end with their message alone, and a run without TensorFlow's start-up
block, one line per epoch when piped, its log in fmnist.log and its curves figure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fmnist.quiet import is_noise
from tests.conftest import DATA_DIR, TINY

SCRIPT = Path(sys.executable).parent / "fmnist"
#: markers of TensorFlow's start-up block and of other library noise
NOISE_MARKERS = ("absl::InitializeLog", "oneDNN custom operations", "cuInit", "cuda drivers",
                 "cpu_feature_guard", "use_unbounded_threadpool", "ExperimentalWarning",
                 "Launching 1 jobs locally", "Traceback")


def _fmnist(*args: str, cwd: Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    if not SCRIPT.exists():
        pytest.skip(f"the fmnist console script is not installed next to {sys.executable}")
    full_env = {**os.environ, "FMNIST_DATA_DIR": str(DATA_DIR), **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    full_env.update(env or {})
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, env=full_env, text=True,
                          capture_output=True, timeout=600)


def test_help_from_another_directory_is_ours(tmp_path: Path) -> None:
    proc = _fmnist("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("fmnist: train and sweep")
    for text in ("model: brief, convnet, deeper, resnet152, vgg16", "trainer.epochs=5", "Examples:",
                 "fmnist -m model=brief,deeper optim=adam,adamax", "outputs/sweeps/"):
        assert text in proc.stdout
    assert "powered by Hydra" not in proc.stdout and "__main__" not in proc.stdout
    assert "tensorflow" not in proc.stderr.lower()


@pytest.mark.parametrize(("override", "message"), [
    ("trainer.epochs=two", "error: trainer.epochs must be an integer >= 1, got trainer.epochs='two'"),
    ("optimized_metric=val_acc", "error: optimized_metric=['val_acc'] is not a metric this job "
                                 "reports; available: train_loss"),
    ("data.val_fraction=1.5", "error: data.val_fraction must be a number in (0, 1), got "
                              "data.val_fraction=1.5"),
])
def test_config_errors_end_with_their_message_before_data_loads(tmp_path: Path, override: str,
                                                                message: str) -> None:
    run_dir = tmp_path / "run"
    proc = _fmnist(override, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith(message) and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (run_dir / "labels.json").exists()  # nothing was loaded


def test_hydra_full_error_still_shows_the_traceback(tmp_path: Path) -> None:
    proc = _fmnist("trainer.epochs=two", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path,
                   env={"HYDRA_FULL_ERROR": "1"})
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "ConfigError: trainer.epochs must be" in proc.stderr


def test_a_run_is_quiet_logs_to_fmnist_log_and_draws_its_curves(data_dir, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = _fmnist(*TINY, "trainer.epochs=2", "augment=elastic", f"hydra.run.dir={run_dir}",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for marker in NOISE_MARKERS:
        assert marker not in proc.stderr, proc.stderr
    assert proc.stderr.strip() == ""
    lines = proc.stdout.splitlines()
    assert "Epoch 2/2" in lines and max(len(line) for line in lines) < 500  # no progress bar
    assert (run_dir / "fmnist.log").exists() and not (run_dir / "__main__.log").exists()
    assert (run_dir / "curves.png").stat().st_size > 10_000


@pytest.mark.parametrize(("line", "noise"), [
    ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR", True),
    ("I0000 00:00:1795551128.394209    7564 port.cc:153] oneDNN custom operations are on.", True),
    ("E0000 00:00:1795551133.108880    7564 cuda_platform.cc:52] failed call to cuInit: INTERNAL", True),
    ("E0000 00:00:1.2    8138 node_def_util.cc:682] NodeDef mentions attribute "
     "use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset", True),
    ("E0000 00:00:1.2    8138 some_kernel.cc:12] Out of memory while allocating", False),
    ("UserWarning: our own warning", False),
    ("error: trainer.epochs must be an integer >= 1", False),
])
def test_only_known_start_up_lines_count_as_noise(line: str, noise: bool) -> None:
    assert is_noise(line) is noise
