"""docs/facts.md, the register of the course's facts, checked against the notebooks and the package.

Each entry names the notebooks that teach a fact and short strings (``text``) or regular
expressions (``pattern``) that must appear in each of them, and, where the package holds the
same value, ``package`` lines (a dotted path and the literal it must equal) and ``registry``
lines (a port, a protocol and the name IANA's CSV gives it).  The format is described at the
top of docs/facts.md.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FACTS = ROOT / "docs" / "facts.md"
NOTEBOOKS = ROOT / "notebooks"

KEYS = {"id", "claim", "value", "source", "notebooks", "text", "pattern", "package", "registry", "note"}
REPEATABLE = {"source", "text", "pattern", "package", "registry"}
REQUIRED = ("id", "claim", "value", "source", "notebooks")
ID = re.compile(r"[a-z0-9]+(?:[.-][a-z0-9]+)*")
BLOCK = re.compile(r"^```fact\n(.*?)^```", re.S | re.M)
LINE = re.compile(r"([a-z]+): ?(.*)")


def parse(markdown: str) -> list[dict]:
    """The entries of the register, each a dict of key -> str (list of str for repeatable keys)."""
    entries = []
    for block in BLOCK.finditer(markdown):
        entry: dict = {}
        last = None
        for line in block.group(1).splitlines():
            if not line.strip():
                continue
            if line[:1].isspace():
                if last is None:
                    raise ValueError(f"continuation line before any key: {line!r}")
                key, value = last
                if key in REPEATABLE:
                    entry[key][-1] += " " + line.strip()
                else:
                    entry[key] += " " + line.strip()
                continue
            match = LINE.fullmatch(line)
            if match is None:
                raise ValueError(f"not a 'key: value' line: {line!r}")
            key, value = match.groups()
            if key in REPEATABLE:
                entry.setdefault(key, []).append(value)
            elif key in entry:
                raise ValueError(f"{entry.get('id', '?')}: key {key!r} given twice")
            else:
                entry[key] = value
            last = (key, value)
        entries.append(entry)
    return entries


ENTRIES = parse(FACTS.read_text())


def notebooks_of(entry: dict) -> list[str]:
    text = entry.get("notebooks", "").strip()
    return [] if text == "none" else [n.strip() for n in text.split(",")]


# -- reading the notebooks --------------------------------------------------------

DASHES = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2011": "-",
                        "\u00a0": " ", "\u202f": " ", "\u2009": " "})


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(DASHES))


def flatten(text: str) -> str:
    """How ``text`` strings are compared: lower case, whitespace collapsed, dashes as ``-``,
    Markdown's backticks and asterisks ignored."""
    return _collapse(text).replace("`", "").replace("*", "").lower()


def notebook_path(number: str) -> Path:
    found = sorted(NOTEBOOKS.glob(f"{number}-*.ipynb"))
    assert len(found) == 1, f"notebook {number}: expected one notebooks/{number}-*.ipynb, found {found}"
    return found[0]


@lru_cache(maxsize=None)
def notebook_source(number: str) -> str:
    """Every cell's source of notebook *number*, whitespace collapsed, dashes as ``-``."""
    cells = json.loads(notebook_path(number).read_text())["cells"]
    return _collapse("\n".join("".join(cell["source"]) for cell in cells))


# -- reading the package -----------------------------------------------------------

_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[([^\]]+)\]")


def resolve(path: str):
    """The value at *path*: ``portlab.x.y.ATTR[0].attr`` or ``scenario:NAME.attr[...]``."""
    if path.startswith("scenario:"):
        from portlab import scenario

        name, _, rest = path[len("scenario:"):].partition(".")
        value, rest = scenario.load(scenario.shipped()[name]), "." + rest
    else:
        head = re.match(r"[A-Za-z_][A-Za-z0-9_.]*", path).group(0)
        parts = head.split(".")
        for i in range(len(parts), 0, -1):     # the longest importable module prefix
            try:
                value = importlib.import_module(".".join(parts[:i]))
            except ModuleNotFoundError:
                continue
            rest = "".join("." + p for p in parts[i:]) + path[len(head):]
            break
        else:
            raise AssertionError(f"{path}: no module to start from")
    position = 0
    while position < len(rest):
        step = _STEP.match(rest, position)
        assert step is not None, f"{path}: cannot read {rest[position:]!r}"
        attribute, index = step.groups()
        value = getattr(value, attribute) if attribute else value[ast.literal_eval(index)]
        position = step.end()
    return value


# -- the register itself ----------------------------------------------------------

def test_the_register_is_well_formed():
    assert len(ENTRIES) >= 60, "docs/facts.md: fewer entries than expected (a broken fence?)"
    seen = set()
    for entry in ENTRIES:
        name = entry.get("id", "?")
        assert not set(entry) - KEYS, f"{name}: unknown keys {sorted(set(entry) - KEYS)}"
        for key in REQUIRED:
            assert entry.get(key), f"{name}: {key} is missing"
        assert ID.fullmatch(name), f"{name}: an id is lower case, with dots and dashes"
        assert name not in seen, f"{name}: the id is used twice"
        seen.add(name)
        numbers = notebooks_of(entry)
        for number in numbers:
            assert re.fullmatch(r"\d\d", number), f"{name}: notebook {number!r} (expected two digits or none)"
            notebook_path(number)
        if numbers:
            assert entry.get("text") or entry.get("pattern"), f"{name}: names notebooks but no text to find there"
        else:
            assert not entry.get("text") and not entry.get("pattern"), f"{name}: text given but no notebook"
        for line in entry.get("package", []):
            assert " == " in line, f"{name}: package line {line!r} (expected PATH == LITERAL)"
            ast.literal_eval(line.split(" == ", 1)[1])


def test_the_parser_reads_continuations_and_refuses_mistakes():
    sample = "```fact\nid: a.b\nclaim: one\n  two\ntext: x\ntext: y\n```\n"
    assert parse(sample) == [{"id": "a.b", "claim": "one two", "text": ["x", "y"]}]
    with pytest.raises(ValueError):
        parse("```fact\nid: a\nid: b\n```\n")
    with pytest.raises(ValueError):
        parse("```fact\nnot a key line\n```\n")


def test_flattening_ignores_markup_but_not_words():
    assert "dynamic ports (49152-65535)" in flatten("**Dynamic Ports (49152\u201365535)**")
    assert "dynamic ports" not in flatten("Dynamic and/or private ports")
    assert "ct state established,related accept" in flatten("`ct state\n established,related accept`")


# -- each fact where the register says it is taught -------------------------------

TEXT_CASES = [(entry["id"], number) for entry in ENTRIES for number in notebooks_of(entry)]


@pytest.mark.parametrize("fact_id, number", TEXT_CASES, ids=[f"{f}@{n}" for f, n in TEXT_CASES])
def test_the_notebook_states_the_fact(fact_id, number):
    entry = next(e for e in ENTRIES if e["id"] == fact_id)
    source = notebook_source(number)
    flat = flatten(source)
    missing = [t for t in entry.get("text", []) if flatten(t) not in flat]
    unmatched = [p for p in entry.get("pattern", []) if not re.search(p, source, re.I)]
    assert not missing and not unmatched, (
        f"{notebook_path(number).name} should state {fact_id} ({entry['value']}): "
        f"missing text {missing}, unmatched patterns {unmatched}")


# -- and where the package holds the value ----------------------------------------

PACKAGE_CASES = [(entry["id"], line) for entry in ENTRIES for line in entry.get("package", [])]


@pytest.mark.parametrize("fact_id, line", PACKAGE_CASES, ids=[f"{f}:{l.split(' == ')[0]}" for f, l in PACKAGE_CASES])
def test_the_package_agrees(fact_id, line):
    path, literal = line.split(" == ", 1)
    expected = ast.literal_eval(literal)
    found = resolve(path)
    assert found == expected, f"{fact_id}: {path} is {found!r}, docs/facts.md says {expected!r}"


REGISTRY_CASES = [(entry["id"], line) for entry in ENTRIES for line in entry.get("registry", [])]


@pytest.mark.parametrize("fact_id, line", REGISTRY_CASES, ids=[f"{f}:{l}" for f, l in REGISTRY_CASES])
def test_the_registry_agrees(fact_id, line):
    from portlab import registry

    where, name = line.split(" ", 1)
    port, protocol = where.split("/")
    names = [row.name for row in registry.lookup(int(port), protocol)]
    assert name in names, f"{fact_id}: IANA's CSV names {port}/{protocol} {names}, docs/facts.md says {name!r}"


def test_resolve_reads_modules_indexes_and_scenarios():
    assert resolve("portlab.ranges.SYSTEM.hi") == 1023
    assert resolve("portlab.timing.TEMPLATES[4].max_retries") == 6
    assert resolve('portlab.sim.kernel.REJECT_CODES["tcp-reset"]') is None
    assert resolve("scenario:single-host.hosts[0].name") == "target"
    with pytest.raises(AttributeError):
        resolve("portlab.ranges.NO_SUCH_THING")
