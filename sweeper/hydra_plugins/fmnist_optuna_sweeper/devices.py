"""Which GPUs each parallel local trial sees (``CUDA_VISIBLE_DEVICES`` of its worker).

With ``n_jobs > 1`` and Hydra's basic launcher each worker slot runs its jobs as subprocesses;
slot ``i`` gets ``gpus_per_trial`` devices, dealt round-robin from ``devices`` (default: every
GPU visible to the sweep). More slots than GPUs share them (TensorFlow grows its memory, so
two trials fit on one GPU). ``n_jobs: auto`` (:func:`local_slots`) runs ``trials_per_gpu``
trials on each GPU (one small Fashion-MNIST trial uses a sliver of a GPU) or, without GPUs,
one trial per CPU core (small CNNs do not scale across cores, so trials side by side with a
thread each train more per hour than one trial on every core). Launchers place jobs themselves: SLURM through
``hydra.launcher.gpus_per_node`` / ``gres``, submitit's local executor through
``hydra.launcher.gpus_per_node`` (GPUs ``0..n-1`` for every job).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence

__all__ = ["DeviceError", "assign_devices", "local_slots", "parse_visible", "visible_gpus"]


class DeviceError(ValueError):
    """A device setting that cannot be met; the message names the value and the rule."""


def parse_visible(env: Mapping[str, str], nvidia_smi_list: str | None) -> list[str]:
    """The GPUs this process may use: ``CUDA_VISIBLE_DEVICES`` when set (``""`` or ``-1`` =
    none), else one per ``GPU n:`` line of ``nvidia-smi -L`` (None = no nvidia-smi)."""
    if "CUDA_VISIBLE_DEVICES" in env:
        ids = [d.strip() for d in env["CUDA_VISIBLE_DEVICES"].split(",") if d.strip()]
        # CUDA stops at the first invalid id, conventionally -1
        return ids[: ids.index("-1")] if "-1" in ids else ids
    if not nvidia_smi_list:
        return []
    lines = [line for line in nvidia_smi_list.splitlines() if line.startswith("GPU ")]
    return [str(i) for i in range(len(lines))]


def visible_gpus(env: Mapping[str, str]) -> list[str]:
    """``parse_visible`` with this machine's ``nvidia-smi -L`` (no TensorFlow import)."""
    listing = None
    if "CUDA_VISIBLE_DEVICES" not in env and shutil.which("nvidia-smi"):
        try:
            listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                                     timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            listing = None
    return parse_visible(env, listing)


def assign_devices(devices: Sequence[str | int], gpus_per_trial: int, slots: int
                   ) -> list[list[str]]:
    """Devices of each worker slot, dealt round-robin; ``[]`` for every slot without GPUs.

    >>> assign_devices(["0", "1", "2", "3"], 1, 4)
    [['0'], ['1'], ['2'], ['3']]
    >>> assign_devices([0, 1], 1, 3)
    [['0'], ['1'], ['0']]
    """
    if gpus_per_trial < 0:
        raise DeviceError(f"gpus_per_trial must be >= 0, got gpus_per_trial={gpus_per_trial}")
    names = [str(d) for d in devices]
    if len(set(names)) != len(names):
        raise DeviceError(f"devices must not repeat, got devices={names}")
    if not names or gpus_per_trial == 0:
        return [[] for _ in range(slots)]
    if gpus_per_trial > len(names):
        raise DeviceError(
            f"gpus_per_trial={gpus_per_trial} is more than the {len(names)} device(s) "
            f"available: {names}")
    return [[names[(slot * gpus_per_trial + k) % len(names)] for k in range(gpus_per_trial)]
            for slot in range(slots)]


def local_slots(n_jobs: int | str, cores: int, gpus: int, gpus_per_trial: int = 1,
                trials_per_gpu: int = 1) -> int:
    """Trials at a time on this machine for ``n_jobs`` (a number, or ``auto``): with GPUs (and
    ``gpus_per_trial > 0``) ``trials_per_gpu`` trials on each group of ``gpus_per_trial``
    GPUs, else one per CPU core.

    >>> local_slots("auto", cores=16, gpus=0), local_slots("auto", 16, gpus=2, trials_per_gpu=3)
    (16, 6)
    """
    if isinstance(trials_per_gpu, bool) or not isinstance(trials_per_gpu, int) or trials_per_gpu < 1:
        raise DeviceError(f"trials_per_gpu must be an integer >= 1, got trials_per_gpu={trials_per_gpu!r}")
    if n_jobs != "auto":
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
            raise DeviceError(f"n_jobs must be auto or an integer >= 1, got n_jobs={n_jobs!r}")
        return n_jobs
    if gpus and gpus_per_trial > 0:
        return max(1, gpus // gpus_per_trial) * trials_per_gpu
    return max(1, cores)
