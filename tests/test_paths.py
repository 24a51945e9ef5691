"""Relative paths a user gives mean the same in every process: the ``fmnist`` command makes
them absolute where it starts (``fmnist/paths.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fmnist.paths import absolute_environment, absolute_override, absolute_overrides

CWD = Path("/work/repo")


@pytest.mark.parametrize(("text", "expected"), [
    ("data.directory=../shared/data", "data.directory=/work/shared/data"),
    ("data.directory=data", "data.directory=/work/repo/data"),
    ("+data.path=./x/train.npy", "+data.path=/work/repo/x/train.npy"),
    ("++data.predict_path=kaggle.npy", "++data.predict_path=/work/repo/kaggle.npy"),
    ("optuna.artifact_dir=outputs/art", "optuna.artifact_dir=/work/repo/outputs/art"),
    ("hydra.sweep.dir=outputs/s", "hydra.sweep.dir=/work/repo/outputs/s"),
    ("hydra.run.dir=run", "hydra.run.dir=/work/repo/run"),
    ("data.directory=/abs/data", "data.directory=/abs/data"),           # absolute: as given
    ("data.directory=~/data", "data.directory=~/data"),                 # home: the same everywhere
    ("data.directory=null", "data.directory=null"),
    ("data.directory=a,b", "data.directory=a,b"),                       # a sweep: as written
    ("data.directory='a b'", "data.directory='a b'"),                   # quoted: as written
    ("data.directory=${oc.env:X}", "data.directory=${oc.env:X}"),       # interpolation
    ("trainer.epochs=2", "trainer.epochs=2"),                           # not a path key
    ("model=brief", "model=brief"),
])
def test_relative_path_overrides_become_absolute(text: str, expected: str) -> None:
    assert absolute_override(text, CWD) == expected


def test_an_absolute_path_hydra_cannot_read_plain_is_quoted() -> None:
    assert absolute_override("data.directory=d", Path("/my data")) == "data.directory='/my data/d'"


def test_flags_pass_unchanged() -> None:
    assert absolute_overrides(["-m", "--config-dir", "conf", "data.directory=d"], CWD) == [
        "-m", "--config-dir", "conf", "data.directory=/work/repo/d"]


def test_relative_path_variables_become_absolute() -> None:
    env = {"FMNIST_DATA_DIR": "../shared/data", "FMNIST_KAGGLE_TRAIN": "/abs/t.npy", "OTHER": "x"}
    absolute_environment(env, CWD)
    assert env == {"FMNIST_DATA_DIR": "/work/shared/data", "FMNIST_KAGGLE_TRAIN": "/abs/t.npy",
                   "OTHER": "x"}


def test_the_command_resolves_relative_paths_where_it_starts(tmp_path: Path) -> None:
    """``FMNIST_DATA_DIR=../data fmnist data.path=... --cfg job``: the job's config (what a child
    process gets) names the directories against the command's directory."""
    here = tmp_path / "project"
    here.mkdir()
    env = {**os.environ, "FMNIST_DATA_DIR": "../data"}
    proc = subprocess.run([sys.executable, "-m", "fmnist", "data=kaggle", "data.path=x/train.npy",
                           "--cfg", "job", "--resolve"], cwd=here, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout)["data"]["path"] == str(here / "x" / "train.npy")
    proc = subprocess.run([sys.executable, "-m", "fmnist", "--cfg", "job", "--resolve"], cwd=here,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout)["data"]["directory"] == str(tmp_path / "data")
