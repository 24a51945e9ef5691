"""The log's "Optimizer: ..." line does not claim a learning rate that the schedule sets."""

from __future__ import annotations

import pytest

from fmnist.schedules import optimizer_summary


@pytest.mark.parametrize(("schedule", "expected"), [
    ("constant", "Adamax(learning_rate=0.002)"),
    ("plateau", "Adamax(learning_rate=0.002)"),  # starts from the optimizer's rate
    ("sgdr", "Adamax (learning rate set by the schedule: SGDR(max_lr=0.006, min_lr=0.001, T=10, "
             "T_mul=1))"),
    ("onecycle", "Adamax (learning rate set by the schedule: WarmupCosine(max_lr=0.003, "
                 "warmup_epochs=2, start_fraction=0.1, final_fraction=0.0))"),
])
def test_the_optimizer_line_names_what_sets_the_learning_rate(compose_cfg, schedule: str,
                                                             expected: str) -> None:
    cfg = compose_cfg(f"schedule={schedule}", "optim=adamax")
    assert optimizer_summary("Adamax", cfg.optim.get("learning_rate"), cfg.schedule) == expected


def test_no_schedule_is_the_optimizers_rate() -> None:
    assert optimizer_summary("SGD", 0.01, None) == "SGD(learning_rate=0.01)"
