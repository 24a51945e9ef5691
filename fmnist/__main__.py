"""``fmnist [overrides]`` (or ``python -m fmnist``): one training job; ``-m`` for a multirun or
a sweep. ``fmnist --help`` lists the config groups, the main knobs and examples."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from fmnist.errors import our_error
from fmnist.paths import absolute_environment, absolute_overrides
from fmnist.quiet import silence_libraries


def config_dir() -> str:
    """The Hydra configs: ``fmnist/conf`` in an installed wheel, ``conf/`` of a checkout
    (editable install). Absolute, so the command works from any directory."""
    here = Path(__file__).resolve().parent
    packaged = here / "conf"
    return str(packaged if packaged.is_dir() else here.parent / "conf")


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")
def _app(cfg: DictConfig) -> float | tuple[float, ...]:
    from fmnist.quiet import import_tensorflow

    import_tensorflow()  # before Keras, so that its start-up block is silenced
    from fmnist.app import run

    try:
        return run(cfg)
    except Exception as exc:
        # a single run ends with the message alone; in a multirun the sweeper records the
        # failure (Hydra prints FmnistErrors compactly), and HYDRA_FULL_ERROR=1 keeps the traceback
        ours = our_error(exc)
        if (ours is None or os.environ.get("HYDRA_FULL_ERROR") == "1"
                or HydraConfig.get().mode == RunMode.MULTIRUN):
            raise
        print(f"error: {ours}", file=sys.stderr)
        sys.exit(1)


def main() -> None:
    """The console script: TensorFlow is imported only when a job runs (``--help`` is quick)."""
    silence_libraries()
    if sys.argv and sys.argv[0].endswith("__main__.py"):
        sys.argv[0] = "fmnist"
    # relative paths mean the same in every process this one starts (fmnist/paths.py)
    absolute_environment(os.environ, Path.cwd())
    sys.argv[1:] = absolute_overrides(sys.argv[1:], Path.cwd())
    _app()


if __name__ == "__main__":
    main()
