"""The README's opening commands, as a new user copies them: CI runs exactly those, and the
test command works with its relative ``FMNIST_DATA_DIR`` although tests start ``fmnist`` in
subprocesses from temporary directories."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DATA_DIR, REPO

_spec = importlib.util.spec_from_file_location("readme_commands", REPO / "scripts" / "readme_commands.py")
assert _spec is not None and _spec.loader is not None
readme_commands_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_commands_module)
readme_commands = readme_commands_module.readme_commands

README_COMMANDS = readme_commands((REPO / "README.md").read_text())


def test_the_readme_opens_with_an_install_and_a_test_command_on_relative_data() -> None:
    assert len(README_COMMANDS) == 2
    install, tests = README_COMMANDS
    assert "pip install" in install and "-m fmnist" in install
    assert tests == "FMNIST_DATA_DIR=../shared/data/fashion-mnist .venv/bin/python -m pytest"


def test_ci_runs_the_readme_commands_exactly_as_written() -> None:
    proc = subprocess.run([str(REPO / ".ci" / "run"), "--commands"], capture_output=True,
                          text=True, timeout=60, check=True)
    assert proc.stdout.splitlines() == README_COMMANDS
    script = (REPO / ".ci" / "run").read_text()
    assert 'bash -euo pipefail -c "${readme[0]}"' in script
    assert 'bash -euo pipefail -c "${readme[1]}"' in script
    # the docs build, warnings as errors, between the install and the test suite
    build = script.index(".venv/bin/mkdocs build --strict")
    assert script.index('"${readme[0]}"') < build < script.index('"${readme[1]}"')


@pytest.mark.parametrize(("text", "commands"), [
    ("```bash\na\nb\n```\n", ["a", "b"]),
    ("intro\n```bash\n# comment\n\na \\\n  --flag x\nb\n```\n```bash\nc\n```\n", ["a --flag x", "b"]),
    ("```python\nx = 1\n```\n```sh\nrun\n```\n", ["run"]),
])
def test_readme_commands_are_the_first_shell_block(text: str, commands: list[str]) -> None:
    assert readme_commands(text) == commands


def test_a_readme_without_a_shell_block_is_an_error() -> None:
    with pytest.raises(ValueError, match="no ```bash block"):
        readme_commands("# title\n")


def _fresh_copy(root: Path) -> Path:
    """The checkout's tracked and new files in ``root/fmnist`` (a fresh clone with this
    branch's changes), with ``root/shared/data/fashion-mnist`` beside it and ``.venv`` the
    environment running the tests."""
    clone = root / "fmnist"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.splitlines()
    for name in files:
        source = REPO / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    (root / "shared" / "data").mkdir(parents=True)
    (root / "shared" / "data" / "fashion-mnist").symlink_to(DATA_DIR)
    (clone / ".venv").symlink_to(Path(sys.prefix))
    return clone


@pytest.mark.slow
def test_the_readme_test_command_passes_as_written_from_a_fresh_copy(tmp_path: Path) -> None:
    """The README's test command, literally, on the tests that start ``fmnist`` from temporary
    directories (they failed with its relative FMNIST_DATA_DIR before conftest made it
    absolute)."""
    clone = _fresh_copy(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("FMNIST_DATA_DIR", "HYDRA_FULL_ERROR")}
    # this copy's packages first (the shared environment may hold an editable install elsewhere)
    env["PYTHONPATH"] = f"{clone}{os.pathsep}{clone / 'sweeper'}"
    selection = ("tests/test_evaluate.py tests/test_cli.py::test_a_run_is_quiet_logs_to_fmnist_log_"
                 "and_draws_its_curves -q")
    proc = subprocess.run(["bash", "-c", f"{README_COMMANDS[1]} {selection}"], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "error" not in proc.stdout.splitlines()[-1]


def _documentation() -> str:
    """The README and every page of ``docs/`` (the reference moved there from the README)."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    return "\n".join(page.read_text() for page in pages)


def test_the_config_group_table_lists_every_option() -> None:
    rows = {line.split("|")[1].strip().strip("`"): line.split("|")[2]
            for line in _documentation().splitlines()
            if line.startswith("| `") and line.count("|") >= 4}
    for group in sorted(p for p in (REPO / "conf").iterdir() if p.is_dir() and p.name != "hydra"):
        if [f.stem for f in group.glob("*.yaml")] == ["default"]:
            continue  # one option, nothing to choose (trainer: see the knobs table)
        assert group.name in rows, f"the docs' config-group table lacks {group.name}"
        for option in sorted(f.stem for f in group.glob("*.yaml")):
            assert f"`{option}`" in rows[group.name], f"docs: {group.name} lacks {option}"
