"""Which GPUs each parallel local trial sees (``CUDA_VISIBLE_DEVICES`` of its worker).

With ``n_jobs > 1`` and Hydra's basic launcher each worker slot runs its jobs as subprocesses;
slot ``i`` gets ``gpus_per_trial`` devices, dealt round-robin from ``devices`` (default: every
GPU visible to the sweep). More slots than GPUs share them (TensorFlow grows its memory, so
two trials fit on one GPU). Launchers place jobs themselves: SLURM through
``hydra.launcher.gpus_per_node`` / ``gres``, submitit's local executor through
``hydra.launcher.gpus_per_node`` (GPUs ``0..n-1`` for every job).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence

__all__ = ["DeviceError", "assign_devices", "parse_visible", "visible_gpus"]


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
