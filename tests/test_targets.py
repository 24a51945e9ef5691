"""A run directory is data: only this project's own ``_target_``s are rebuilt from it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from fmnist.summary.collect import Run
from fmnist.summary.report import study_of_runs
from fmnist.targets import UnsafeTargetError, check_targets, shipped_targets
from tests.conftest import CONF, run_module

_DATA = {"_target_": "fmnist.data.load_fashion_mnist", "directory": "/nowhere", "seed": 0}


def test_the_allowed_targets_are_those_of_the_shipped_yaml_files() -> None:
    allowed = shipped_targets()
    for group in ("data", "model", "optim", "schedule"):
        for path in (CONF / group).glob("*.yaml"):
            assert yaml.safe_load(path.read_text())["_target_"] in allowed, path
    assert {"fmnist.augment.RandomAffine", "fmnist.augment.ElasticDistortion"} <= allowed
    # Hydra's own settings (samplers, pruners, callbacks) are not rebuilt from a run directory
    assert not {t for t in allowed if t.startswith(("optuna.", "hydra"))}
    assert "fmnist.validate.ConfigCheck" not in allowed


def test_a_new_option_is_allowed_by_adding_its_yaml(tmp_path: Path) -> None:
    # options another change added (model=convnet, augment=flip_erase) are allowed as shipped
    assert {"fmnist.models.convnet", "fmnist.erasing.RandomErasing"} <= shipped_targets()
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    assert "fmnist.models.mobile" not in shipped_targets(conf)
    other = tmp_path / "conf2"
    shutil.copytree(CONF, other)
    (other / "model" / "mobile.yaml").write_text(
        "_target_: fmnist.models.mobile\n_partial_: true\nfilters: 16\n")
    (other / "augment" / "cutout.yaml").write_text(
        "cutout:\n  _target_: fmnist.augment.Cutout\n  size: 4\n")
    assert {"fmnist.models.mobile", "fmnist.augment.Cutout"} <= shipped_targets(other)


@pytest.mark.parametrize(("node", "where"), [
    ({**_DATA, "_target_": "shutil.copyfile"}, "data._target_='shutil.copyfile'"),
    ({**_DATA, "_target_": "numpy.savetxt"}, "data._target_='numpy.savetxt'"),
    ({**_DATA, "extra": {"_target_": "tensorflow.io.write_file"}}, "data.extra._target_"),
    ({**_DATA, "_args_": [{"_target_": "os.system", "_args_": ["true"]}]}, "data._args_[0]._target_"),
    ({**_DATA, "items": [1, {"deep": {"_target_": "builtins.exec"}}]}, "data.items[1].deep._target_"),
    ({**_DATA, "_target_": ["fmnist.data.load_fashion_mnist"]}, "data._target_=list"),
    # an interpolation cannot smuggle a target in: the node is checked resolved
    ({**_DATA, "x": "${oc.decode:'{_target_: shutil.rmtree, path: /tmp}'}"}, "data.x._target_"),
])
def test_a_foreign_target_is_refused_anywhere_in_the_node(node: dict, where: str) -> None:
    with pytest.raises(UnsafeTargetError, match=r"is not one of this project's targets") as info:
        check_targets(OmegaConf.create({"data": node}).data, "data")
    assert where in str(info.value)
    assert len(str(info.value)) < 3000


def test_own_targets_pass_resolved_and_extra_ones_when_asked() -> None:
    cfg = OmegaConf.create({"seed": 7, "data": {**_DATA, "seed": "${seed}"}})
    assert check_targets(cfg.data, "data") == {**_DATA, "seed": 7}
    mine = {"_target_": "mypackage.loader", "n": 1}
    with pytest.raises(UnsafeTargetError):
        check_targets(mine, "data")
    assert check_targets(mine, "data", shipped_targets() | {"mypackage.loader"}) == mine


def _hostile_run(tmp_path: Path, data: dict) -> Path:
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    cfg = yaml.safe_load((CONF / "config.yaml").read_text())
    cfg.pop("defaults"), cfg.pop("hydra")
    cfg["data"] = data
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    (run / "model.keras").write_bytes(b"PK\x03\x04 not a model")
    return run


@pytest.mark.parametrize("data", [
    {"_target_": "shutil.copyfile", "src": "{source}", "dst": "{marker}"},
    {"_target_": "numpy.savetxt", "fname": "{marker}", "X": [1, 2, 3]},
    {"_target_": "fmnist.data.load_fashion_mnist", "directory": "{source}",
     "hook": {"_target_": "shutil.copyfile", "src": "{source}", "dst": "{marker}"}},
])
def test_evaluate_refuses_a_run_directory_naming_a_foreign_target(tmp_path: Path, data: dict) -> None:
    source, marker = tmp_path / "source.txt", tmp_path / "MARKER"
    source.write_text("payload\n")
    text = yaml.safe_dump(data).replace("{source}", str(source)).replace("{marker}", str(marker))
    run = _hostile_run(tmp_path, yaml.safe_load(text))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    proc = run_module("fmnist.evaluate", str(run), cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "is not one of this project's targets" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not marker.exists()
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written


def test_evaluate_goes_on_with_an_own_target_to_the_model(tmp_path: Path, data_dir: Path) -> None:
    """The control for the refusals above: the same directory with the project's data loader
    is rebuilt and reaches the model, whose damage is one clear line."""
    run = _hostile_run(tmp_path, {"_target_": "fmnist.data.load_fashion_mnist",
                                  "directory": str(data_dir), "download": False,
                                  "train_size": 200, "eval_size": 100, "seed": 0})
    proc = run_module("fmnist.evaluate", str(run), cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"{run / 'model.keras'} is not a model this project can load" in proc.stderr
    assert not (run / "evaluation").exists()


def test_summary_opens_no_storage_a_run_directory_names_that_does_not_exist(tmp_path: Path) -> None:
    db, journal = tmp_path / "planted" / "x.db", tmp_path / "planted.log"
    for url, path in ((f"sqlite:///{db}", db), (f"journal:///{journal}", journal)):
        run = Run(path=tmp_path, name="0", status="completed",
                  config={"optuna": {"storage": url, "study_name": "s"}})
        study, note = study_of_runs([run])
        assert study is None and "does not exist" in note and str(path) in note
        assert not path.exists() and not path.parent.joinpath("x.db").exists()
