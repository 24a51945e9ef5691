"""TensorFlow's devices for one job: GPU memory that grows as needed (so trials can share a
GPU) and the precision policy (``trainer.mixed_precision``).

Which GPUs a job sees is decided before it starts (``CUDA_VISIBLE_DEVICES``, set per worker by
the sweeper or by the cluster's scheduler), never here.
"""

from __future__ import annotations

import contextlib
import logging

import keras
import tensorflow as tf

from fmnist.errors import ConfigError

__all__ = ["POLICIES", "configure_devices", "precision_policy"]

log = logging.getLogger(__name__)

#: trainer.mixed_precision -> Keras dtype policy
POLICIES = {False: "float32", True: "mixed_float16", "float32": "float32",
            "mixed_float16": "mixed_float16", "mixed_bfloat16": "mixed_bfloat16"}


def precision_policy(mixed_precision: bool | str | None) -> str:
    """The Keras dtype policy for ``trainer.mixed_precision`` (false, true = mixed_float16,
    or a policy name)."""
    key = False if mixed_precision is None else mixed_precision
    if isinstance(key, bool | str) and key in POLICIES:
        return POLICIES[key]
    raise ConfigError(
        f"trainer.mixed_precision must be true, false, mixed_float16 or mixed_bfloat16, "
        f"got trainer.mixed_precision={mixed_precision!r}")


def configure_devices(mixed_precision: bool | str | None = False) -> list[str]:
    """Let every visible GPU grow its memory, set the precision policy, and return the GPUs.

    Call before building the model. Memory growth can only be set before TensorFlow touches a
    GPU; in a process that already did (a reused worker), ``TF_FORCE_GPU_ALLOW_GROWTH``, set by
    ``import fmnist``, has applied it already.
    """
    policy = precision_policy(mixed_precision)
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        with contextlib.suppress(RuntimeError):  # already initialised
            tf.config.experimental.set_memory_growth(gpu, True)
    keras.mixed_precision.set_global_policy(policy)
    log.info("Devices: %s; precision policy %s",
             ", ".join(g.name for g in gpus) or "CPU only", policy)
    return [g.name for g in gpus]
