"""TensorFlow's devices for one job: GPU memory that grows as needed (so trials can share a
GPU) and the precision policy (``trainer.mixed_precision``).

``auto`` follows measurement, not a CPU flag (BENCHMARKS.md, issue 23): float32 on CPUs
(``mixed_bfloat16`` ran no faster than float32 on an AVX512-BF16 CPU with TensorFlow 2.21),
mixed precision on GPUs with tensor cores: ``mixed_float16`` from compute capability 7.0
(Volta, Turing), ``mixed_bfloat16`` from 8.0 (Ampere on: no loss scaling needed), float32 on
older GPUs.

Which GPUs a job sees is decided before it starts (``CUDA_VISIBLE_DEVICES``, set per worker by
the sweeper or by the cluster's scheduler), never here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

import keras
import tensorflow as tf

from fmnist.errors import ConfigError

__all__ = ["POLICIES", "auto_policy", "compute_capabilities", "configure_devices",
           "precision_policy"]

log = logging.getLogger(__name__)

#: trainer.mixed_precision -> Keras dtype policy
POLICIES = {False: "float32", True: "mixed_float16", "float32": "float32",
            "mixed_float16": "mixed_float16", "mixed_bfloat16": "mixed_bfloat16"}


def auto_policy(capabilities: Sequence[tuple[int, int]]) -> str:
    """The policy of ``trainer.mixed_precision: auto`` for the visible GPUs' compute
    capabilities (none: a CPU); with several GPUs the oldest decides.

    >>> auto_policy([]), auto_policy([(7, 5)]), auto_policy([(9, 0)])
    ('float32', 'mixed_float16', 'mixed_bfloat16')
    """
    if not capabilities:
        return "float32"
    oldest = min(tuple(c) for c in capabilities)
    if oldest >= (8, 0):
        return "mixed_bfloat16"
    return "mixed_float16" if oldest >= (7, 0) else "float32"


def precision_policy(mixed_precision: bool | str | None,
                     capabilities: Sequence[tuple[int, int]] = ()) -> str:
    """The Keras dtype policy for ``trainer.mixed_precision`` (false, true = mixed_float16,
    a policy name, or auto: :func:`auto_policy` of the GPUs' ``capabilities``)."""
    if mixed_precision == "auto":
        return auto_policy(capabilities)
    key = False if mixed_precision is None else mixed_precision
    if isinstance(key, bool | str) and key in POLICIES:
        return POLICIES[key]
    raise ConfigError(
        f"trainer.mixed_precision must be auto, true, false, float32, mixed_float16 or "
        f"mixed_bfloat16, got trainer.mixed_precision={mixed_precision!r}")


def compute_capabilities(gpus: Sequence[object]) -> list[tuple[int, int]]:
    """The compute capability of each of TensorFlow's physical GPUs ((0, 0) when unknown)."""
    found = []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        found.append(tuple(details.get("compute_capability") or (0, 0)))
    return found  # type: ignore[return-value]


def configure_devices(mixed_precision: bool | str | None = False) -> list[str]:
    """Let every visible GPU grow its memory, set the precision policy, and return the GPUs
    (the policy in effect: ``keras.mixed_precision.global_policy().name``).

    Call before building the model. Memory growth can only be set before TensorFlow touches a
    GPU; in a process that already did (a reused worker), ``TF_FORCE_GPU_ALLOW_GROWTH``, set by
    ``import fmnist``, has applied it already.
    """
    gpus = tf.config.list_physical_devices("GPU")
    policy = precision_policy(mixed_precision,
                              compute_capabilities(gpus) if mixed_precision == "auto" else ())
    for gpu in gpus:
        with contextlib.suppress(RuntimeError):  # already initialised
            tf.config.experimental.set_memory_growth(gpu, True)
    keras.mixed_precision.set_global_policy(policy)
    log.info("Devices: %s; precision policy %s (trainer.mixed_precision=%s)",
             ", ".join(g.name for g in gpus) or "CPU only", policy, mixed_precision)
    return [g.name for g in gpus]
