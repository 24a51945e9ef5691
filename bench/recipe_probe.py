"""Probe the convnet family's ceiling at full size, fast, on any Keras backend (design research
for the convnet search space; the shipped numbers come from `fmnist` runs, see BENCHMARKS.md).

Trains each configuration on the 54,000-image training split (seeded stratified 10 % held out,
as fmnist does) with the modern recipe — AdamW, warmup + cosine, label smoothing, shifts +
flips + random erasing (fmnist's own layers), optional EMA — and prints the test accuracy with
and without flip TTA, one JSON line per configuration (appended to --out; done ones skipped).

    KERAS_BACKEND=jax python bench/recipe_probe.py --data DIR --out probe.jsonl --configs '[...]'
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from fmnist.augment import RandomAffine
from fmnist.erasing import RandomErasing
from fmnist.losses import SmoothedSparseCrossentropy
from fmnist.models import convnet

DEFAULTS: dict[str, Any] = {
    "model": {}, "epochs": 30, "batch_size": 128, "max_lr": 3e-3, "warmup_epochs": 2,
    "weight_decay": 1e-4, "label_smoothing": 0.1, "shift": 0.1, "erasing": 0.5, "ema": True,
    "seed": 0,
}


def _idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load(directory: Path) -> tuple[np.ndarray, ...]:
    def images(name: str) -> np.ndarray:
        return (_idx(directory / name, 16).reshape(-1, 28, 28, 1) / 255.0).astype("float32")
    x, y = images("train-images-idx3-ubyte.gz"), _idx(directory / "train-labels-idx1-ubyte.gz", 8)
    xt, yt = images("t10k-images-idx3-ubyte.gz"), _idx(directory / "t10k-labels-idx1-ubyte.gz", 8)
    rng = np.random.default_rng(42)
    val = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:600] for c in range(10)])
    train = np.setdiff1d(np.arange(len(y)), val)
    return x[train], y[train].astype("int32"), x[val], y[val].astype("int32"), xt, yt.astype("int32")


class Augmented(keras.utils.PyDataset):
    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, layers: list[Any],
                 seed: int) -> None:
        super().__init__()
        self.x, self.y, self.batch_size, self.layers = x, y, batch_size, layers
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, i: int) -> tuple[Any, np.ndarray]:
        keep = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        batch = self.x[keep]
        for layer in self.layers:
            batch = layer(batch, training=True)
        return batch, self.y[keep]

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.x))


def train(spec: dict[str, Any], data: tuple[np.ndarray, ...]) -> dict[str, Any]:
    c = {**DEFAULTS, **spec}
    x, y, xv, yv, xt, yt = data
    keras.utils.set_random_seed(int(c["seed"]))
    model = convnet((28, 28, 1), 10, **c["model"])
    steps = c["epochs"] * math.ceil(len(x) / c["batch_size"])
    warm = min(steps // 2, int(c["warmup_epochs"] * math.ceil(len(x) / c["batch_size"])))
    schedule = keras.optimizers.schedules.CosineDecay(
        0.1 * c["max_lr"], steps - warm, alpha=0.0, warmup_target=c["max_lr"], warmup_steps=warm)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=c["weight_decay"], use_ema=c["ema"])
    model.compile(optimizer, SmoothedSparseCrossentropy(c["label_smoothing"], 10), metrics=["accuracy"])
    layers = [RandomAffine(rotation_range=0, zoom_range=0, shear_range=0, width_shift_range=c["shift"],
                           height_shift_range=c["shift"], horizontal_flip=True, vertical_flip=False,
                           fill_mode="constant", seed=c["seed"] * 1000)]
    if c["erasing"]:
        layers.append(RandomErasing(probability=c["erasing"], seed=c["seed"] * 1000 + 1))
    started = time.perf_counter()
    history = model.fit(Augmented(x, y, c["batch_size"], layers, c["seed"]), epochs=c["epochs"],
                        validation_data=(xv, yv), verbose=0)
    seconds = time.perf_counter() - started
    probs = model.predict(xt, batch_size=1000, verbose=0)
    flipped = model.predict(xt[:, :, ::-1], batch_size=1000, verbose=0)
    val = model.predict(xv, batch_size=1000, verbose=0)
    return {"spec": spec, "params": model.count_params(), "seconds": round(seconds, 1),
            "val_accuracy": float((val.argmax(1) == yv).mean()),
            "test_accuracy": float((probs.argmax(1) == yt).mean()),
            "test_accuracy_tta": float(((probs + flipped).argmax(1) == yt).mean()),
            "val_curve": [round(v, 4) for v in history.history["val_accuracy"]],
            "backend": keras.backend.backend()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("FMNIST_DATA_DIR", ".")))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--configs", required=True, help="a JSON list of specs (see DEFAULTS)")
    args = parser.parse_args()
    done = set()
    if args.out.exists():
        done = {json.dumps(json.loads(line)["spec"], sort_keys=True) for line in args.out.open()}
    data = load(args.data)
    for spec in json.loads(args.configs):
        if json.dumps(spec, sort_keys=True) in done:
            continue
        result = train(spec, data)
        print(json.dumps(result), flush=True)
        with args.out.open("a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
