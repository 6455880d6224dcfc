"""Reference outputs for the cells nbval checks, and nothing else.

The course notebooks are stored without outputs, so a learner opens clean pages,
except for the few cells marked ``# NBVAL_CHECK_OUTPUT``: nbval compares a cell's new
output with the one stored in the file, and a cell with no stored output is never
compared.  This tool runs each notebook and keeps the outputs of the marked cells
only (text, tables; image payloads emptied, since nbval skips images), so the key
teaching outputs are really checked in CI.

    python -m portlab.course.nbrefs notebooks/03-scan-types.ipynb ...   # refresh
    python -m portlab.course.nbrefs --check notebooks/*.ipynb           # stored as they should be?

A marked cell must print the same for root and for a learner without root, every
run (varying values are sanitized by ``notebooks/nbval-sanitize.cfg``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MARK = "# NBVAL_CHECK_OUTPUT"
IMAGES = ("image/png", "image/jpeg", "image/svg+xml")


def is_checked(cell) -> bool:
    return cell.get("cell_type") == "code" and cell.get("source", "").lstrip().startswith(MARK)


def keep(outputs: list) -> list:
    import nbformat
    kept = []
    for out in outputs:
        if out.get("output_type") == "error":
            raise RuntimeError(f"a checked cell raised {out.get('ename')}: {out.get('evalue')}")
        out = dict(out)
        if "data" in out:
            out["data"] = {k: ("" if k in IMAGES else v) for k, v in out["data"].items()}
        out.pop("metadata", None)
        if out.get("output_type") in ("execute_result", "display_data"):
            out["metadata"] = {}
        if out.get("output_type") == "execute_result":
            out["execution_count"] = None
        kept.append(nbformat.from_dict(out))
    return kept


def strip(nb) -> None:
    """Every cell without outputs, except the checked cells' (left as they are)."""
    count = 0
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            count += 1
            if not is_checked(cell):
                cell["outputs"] = []
            # nbval compares only cells that were run: a checked cell keeps a count.
            cell["execution_count"] = count if is_checked(cell) and cell.get("outputs") else None
        cell.get("metadata", {}).pop("execution", None)


def refresh(path: Path, timeout: int = 300) -> int:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    run = nbformat.read(path, as_version=4)
    NotebookClient(run, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    checked = 0
    for cell, done in zip(nb.cells, run.cells):
        if is_checked(cell):
            cell["outputs"] = keep(done.get("outputs", []))
            checked += 1
    strip(nb)
    nbformat.write(nb, path)
    return checked


def problems(path: Path) -> list[str]:
    import nbformat
    nb = nbformat.read(path, as_version=4)
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        if is_checked(cell) and not cell.get("outputs"):
            found.append(f"{path.name}: cell {i} is marked {MARK} but has no reference output")
        if not is_checked(cell) and cell.get("outputs"):
            found.append(f"{path.name}: cell {i} has stored outputs (only checked cells may)")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portlab.course.nbrefs", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only say what is out of order")
    args = parser.parse_args(argv)
    if args.check:
        found = [p for path in args.notebooks for p in problems(path)]
        print("\n".join(found) or "all reference outputs in place")
        return 1 if found else 0
    for path in args.notebooks:
        print(f"{path}: {refresh(path)} checked cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
