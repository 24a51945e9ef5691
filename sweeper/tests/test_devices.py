"""Devices: which GPUs each parallel trial sees and how many trials run at once (pure
functions of the environment and the settings)."""

from __future__ import annotations

import re

import pytest
from hydra_plugins.fmnist_optuna_sweeper.devices import (
    DeviceError,
    assign_devices,
    local_slots,
    parse_visible,
)

SMI = "GPU 0: NVIDIA H100 (UUID: GPU-a)\nGPU 1: NVIDIA H100 (UUID: GPU-b)\n"


@pytest.mark.parametrize(
    ("env", "smi", "visible"),
    [
        ({}, SMI, ["0", "1"]),
        ({}, None, []),
        ({}, "No devices were found", []),
        ({"CUDA_VISIBLE_DEVICES": "2,3"}, SMI, ["2", "3"]),
        ({"CUDA_VISIBLE_DEVICES": ""}, SMI, []),
        ({"CUDA_VISIBLE_DEVICES": "1,-1,2"}, SMI, ["1"]),
        ({"CUDA_VISIBLE_DEVICES": "GPU-a, GPU-b"}, None, ["GPU-a", "GPU-b"]),
    ],
)
def test_visible_gpus(env: dict[str, str], smi: str | None, visible: list[str]) -> None:
    assert parse_visible(env, smi) == visible


@pytest.mark.parametrize(
    ("devices", "per_trial", "slots", "assigned"),
    [
        (["0", "1", "2", "3"], 1, 4, [["0"], ["1"], ["2"], ["3"]]),
        (["0", "1"], 1, 4, [["0"], ["1"], ["0"], ["1"]]),  # two trials share each GPU
        (["0", "1", "2", "3"], 2, 2, [["0", "1"], ["2", "3"]]),
        ([4, 6], 1, 2, [["4"], ["6"]]),
        (["0", "1", "2"], 2, 3, [["0", "1"], ["2", "0"], ["1", "2"]]),
        ([], 1, 2, [[], []]),  # no GPU: nothing set
        (["0", "1"], 0, 2, [[], []]),
    ],
)
def test_devices_are_dealt_round_robin(devices: list, per_trial: int, slots: int,
                                       assigned: list[list[str]]) -> None:
    assert assign_devices(devices, per_trial, slots) == assigned


@pytest.mark.parametrize(
    ("devices", "per_trial", "message"),
    [
        (["0"], 2, "gpus_per_trial=2 is more than the 1 device(s) available: ['0']"),
        (["0", "1"], -1, "gpus_per_trial must be >= 0, got gpus_per_trial=-1"),
        (["0", "0"], 1, "devices must not repeat, got devices=['0', '0']"),
    ],
)
def test_device_settings_that_cannot_be_met(devices: list, per_trial: int, message: str) -> None:
    # by name: Hydra's plugin scan may have imported the module again (another class object)
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        assign_devices(devices, per_trial, 2)
    assert type(raised.value).__name__ == DeviceError.__name__


@pytest.mark.parametrize(
    ("n_jobs", "cores", "gpus", "per_trial", "per_gpu", "slots"),
    [
        ("auto", 2, 0, 1, 1, 2),      # CPU machine: one trial per core
        ("auto", 16, 0, 1, 4, 16),    # trials_per_gpu means nothing without GPUs
        ("auto", 16, 1, 1, 1, 1),     # one trial per GPU by default
        ("auto", 16, 2, 1, 3, 6),     # three trials share each GPU
        ("auto", 16, 4, 2, 2, 4),     # two GPUs per trial: 2 groups x 2
        ("auto", 16, 2, 0, 2, 16),    # gpus_per_trial=0: GPUs left alone, cores count
        (3, 16, 2, 1, 2, 3),          # a number is taken as it is
    ],
)
def test_trials_at_a_time(n_jobs, cores: int, gpus: int, per_trial: int, per_gpu: int,
                          slots: int) -> None:
    assert local_slots(n_jobs, cores, gpus, per_trial, per_gpu) == slots


@pytest.mark.parametrize(
    ("n_jobs", "per_gpu", "message"),
    [(0, 1, "n_jobs must be auto or an integer >= 1, got n_jobs=0"),
     ("many", 1, "n_jobs must be auto or an integer >= 1, got n_jobs='many'"),
     ("auto", 0, "trials_per_gpu must be an integer >= 1, got trials_per_gpu=0")],
)
def test_job_counts_that_cannot_be_met(n_jobs, per_gpu: int, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        local_slots(n_jobs, 4, 1, 1, per_gpu)
