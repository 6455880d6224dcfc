"""Reference outputs for the cells nbval checks, kept with the tests, not in the notebooks.

The course notebooks are stored without any outputs, so a learner opens clean pages.
nbval compares a cell tagged ``nbval-check-output`` (cell metadata, which a learner does
not see) with the output stored for it,
and compares nothing when there is none; so the references live in
``tests/notebook-references/<notebook>.json`` and the repository's root ``conftest.py``
hands them to nbval when it reads a notebook (:func:`with_references`).  None of this
sits in ``notebooks/``: a learner's file browser shows the course and nothing else.

    python -m portlab.course.nbrefs notebooks/03-scan-types.ipynb ...   # run, store references
    python -m portlab.course.nbrefs --check notebooks/*.ipynb           # clean, and every reference there?

A marked cell must print the same for root and for a learner without root, every
run (varying values are sanitized by ``tests/nbval-sanitize.cfg``).  A reference
is tied to its cell's source: edit a checked cell and its reference must be remade.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

#: The cell tag nbval reads (``metadata.tags``); the cell's source carries no test harness text.
TAG = "nbval-check-output"
IMAGES = ("image/png", "image/jpeg", "image/svg+xml")


def is_checked(cell) -> bool:
    return cell.get("cell_type") == "code" and TAG in (cell.get("metadata", {}).get("tags") or [])


#: Where the references are: beside the tests of the checkout this package runs from.
REFERENCES = Path(__file__).resolve().parents[2] / "tests" / "notebook-references"


def references_path(notebook: Path) -> Path:
    return REFERENCES / f"{Path(notebook).stem}.json"


def keep(outputs: list) -> list:
    """Outputs as nbval compares them: no metadata, no counts, image payloads emptied."""
    kept = []
    for out in outputs:
        if out.get("output_type") == "error":
            raise RuntimeError(f"a checked cell raised {out.get('ename')}: {out.get('evalue')}")
        out = {k: v for k, v in dict(out).items() if k not in ("metadata", "execution_count")}
        if "data" in out:
            out["data"] = {k: ("" if k in IMAGES else v) for k, v in out["data"].items()}
        if out.get("output_type") in ("execute_result", "display_data"):
            out["metadata"] = {}
        if out.get("output_type") == "execute_result":
            out["execution_count"] = None
        kept.append(out)
    return kept


def _joined(out: dict) -> dict:
    """Text as one string, as nbformat.read gives it (files store it as a list of lines)."""
    out = dict(out)
    if isinstance(out.get("text"), list):
        out["text"] = "".join(out["text"])
    if "data" in out:
        out["data"] = {k: "".join(v) if isinstance(v, list) else v for k, v in out["data"].items()}
    return out


def load_references(notebook: Path) -> dict[str, dict]:
    path = references_path(notebook)
    return json.loads(path.read_text()) if path.exists() else {}


def with_references(nb, notebook: Path):
    """*nb* (read by nbformat) with each checked cell's stored reference put back, and
    an execution count on it: nbval compares only cells that were run."""
    import nbformat
    refs = load_references(notebook)
    count = 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        count += 1
        ref = refs.get(cell.get("id", ""))
        if is_checked(cell) and ref and ref["source"] == "".join(cell.source):
            cell.outputs = [nbformat.from_dict(_joined(out)) for out in ref["outputs"]]
            cell.execution_count = count
    return nb


def strip(nb) -> None:
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)


def refresh(path: Path, timeout: int = 300) -> int:
    import nbformat
    from nbclient import NotebookClient

    run = nbformat.read(path, as_version=4)
    NotebookClient(run, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    refs = {cell["id"]: {"source": "".join(cell.source), "outputs": keep(cell.get("outputs", []))}
            for cell in run.cells if is_checked(cell)}
    references_path(path).parent.mkdir(exist_ok=True)
    references_path(path).write_text(json.dumps(refs, indent=1, ensure_ascii=False) + "\n")
    nb = nbformat.read(path, as_version=4)
    strip(nb)
    nbformat.write(nb, path)
    return len(refs)


def problems(path: Path) -> list[str]:
    import nbformat
    nb = nbformat.read(path, as_version=4)
    refs = load_references(path)
    found = []
    checked_ids = set()
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count") is not None:
            found.append(f"{path.name}: cell {i} has stored outputs or an execution count")
        if is_checked(cell):
            checked_ids.add(cell.get("id"))
            ref = refs.get(cell.get("id", ""))
            if not ref or not ref["outputs"]:
                found.append(f"{path.name}: cell {i} is tagged {TAG} but has no reference output")
            elif ref["source"] != "".join(cell.source):
                found.append(f"{path.name}: cell {i} changed since its reference was made")
    for stale in set(refs) - checked_ids:
        found.append(f"{path.name}: a reference for cell id {stale} that is no longer a checked cell")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portlab.course.nbrefs", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only say what is out of order")
    args = parser.parse_args(argv)
    if args.check:
        found = [p for path in args.notebooks for p in problems(path)]
        print("\n".join(found) or "notebooks clean, every reference in place")
        return 1 if found else 0
    for path in args.notebooks:
        print(f"{path}: {refresh(path)} checked cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
