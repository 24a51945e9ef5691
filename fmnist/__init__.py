"""fmnist: Hydra-configured hyperparameter sweeps for Keras image classifiers."""

from __future__ import annotations

import os

# Quiet TensorFlow's C++ logging (its real failures still raise Python errors) and pin Keras to
# the TensorFlow backend (tf.data runs the augmentation); both can be overridden from the
# environment. fmnist.quiet also hides the block TensorFlow prints while it loads.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Grow GPU memory as needed instead of taking all of it, so trials can share a GPU.
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")

__version__ = "0.1.0"
__all__ = ["__version__"]
