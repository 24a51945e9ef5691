"""The README's opening commands (its first ``bash`` block), one per line, exactly as written,
so that CI runs what a new user copies and not a variant of it.

    python3 scripts/readme_commands.py [README.md]

``.ci/run`` runs them in order from the checkout's root (the first installs the project and
trains the default job, the second runs the test suite); ``tests/test_readme.py`` checks that
the README still opens with them.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

__all__ = ["readme_commands"]

_FENCE = re.compile(r"^```(bash|sh|shell|console)\s*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def readme_commands(text: str) -> list[str]:
    """The commands of the first ``bash`` block of a README (continuation lines ending in
    ``\\`` joined, comments and blank lines left out).

    >>> readme_commands("# x\\n\\n```bash\\npip install . \\\\\\n  -e x\\npython -m pytest\\n```\\n")
    ['pip install . -e x', 'python -m pytest']
    """
    match = _FENCE.search(text)
    if match is None:
        raise ValueError("the README has no ```bash block")
    commands, current = [], ""
    for line in match.group(2).splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1].rstrip() + " "
            continue
        commands.append((current + line.strip()) if current else line.strip())
        current = ""
    return commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("readme", nargs="?", type=Path,
                        default=Path(__file__).resolve().parents[1] / "README.md")
    args = parser.parse_args(argv)
    print("\n".join(readme_commands(args.readme.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
