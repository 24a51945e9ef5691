"""A Hydra callback for jobs that the sweeper runs in their own process: it writes the job's
outcome (values, pruned, or the error) to ``optuna_result.json`` in the job directory."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

__all__ = ["RESULT_FILE", "JobResultWriter", "outcome_from_job_return"]

RESULT_FILE = "optuna_result.json"


def outcome_from_job_return(ret: JobReturn) -> dict[str, Any]:
    """``{'state': 'COMPLETE'|'PRUNED'|'FAIL', 'values': [...], 'error': str}``."""
    if ret.status == JobStatus.COMPLETED:
        value = ret.return_value
        values = list(value) if isinstance(value, list | tuple) else [value]
        try:
            floats = [float(v) for v in values]
        except (TypeError, ValueError):
            return {"state": "FAIL", "error": f"the job returned {value!r}, not a number"}
        if any(not math.isfinite(v) for v in floats):
            return {"state": "FAIL", "error": f"the job returned a non-finite value {floats}"}
        return {"state": "COMPLETE", "values": floats}
    exc = ret._return_value
    if type(exc).__name__ == "TrialPruned":
        return {"state": "PRUNED", "error": str(exc)}
    return {"state": "FAIL", "error": f"{type(exc).__name__}: {exc}"}


class JobResultWriter(Callback):
    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        out = Path(config.hydra.runtime.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / RESULT_FILE).write_text(json.dumps(outcome_from_job_return(job_return)) + "\n")
