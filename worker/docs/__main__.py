"""`python -m worker.docs [--check]`: write docs/configuration.md (or check that it is current)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from worker.docs.configuration import COMMAND, PAGE, render


def main() -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the page is not current")
    parser.add_argument("--page", type=Path, default=Path(PAGE), help=f"default {PAGE}")
    args = parser.parse_args()
    text = render()
    if args.check:
        current = args.page.read_text(encoding="utf-8") if args.page.is_file() else ""
        if current != text:
            print(f"{args.page} is not current: run {COMMAND}", file=sys.stderr)
            return 1
        return 0
    args.page.write_text(text, encoding="utf-8")
    print(f"wrote {args.page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
