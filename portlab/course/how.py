""""How this works" folds: the notebooks' helpers, opened for the learner.

The notebooks keep their cells a few lines long by calling helpers from
``portlab.course.lessons``.  Nothing in them is meant to be hidden: ``how(nb07)``
displays one closed fold per helper of that lesson module (``how(nb07.walk)`` one
fold), whose summary line says what the helper does and whose body holds its whole
docstring and its code.  A learner who wants to know how a table was made opens the
fold; one who does not scrolls past one line per helper.

    from portlab.course.how import how
    how(nb07)               # every helper of notebook 07, each a fold
    how(nb07.walk)          # just one
"""

from __future__ import annotations

import html
import inspect
import re
import types
from typing import Any, Callable, Union

Helper = Union[Callable[..., Any], type]


def helpers_of(module: types.ModuleType) -> list[Helper]:
    """The public functions and classes *module* defines itself, in the order of its source."""
    found = []
    for name, obj in vars(module).items():
        if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if getattr(obj, "__module__", None) != module.__name__:
            continue            # imported from elsewhere: that module's own fold explains it
        if inspect.isclass(obj) and (obj.__doc__ or "").startswith(f"{obj.__name__}("):
            continue            # a record (a dataclass without a docstring of its own), not a helper
        found.append(obj)
    return sorted(found, key=lambda obj: inspect.getsourcelines(obj)[1])


def _qualified(obj: Helper) -> str:
    module = obj.__module__.rsplit(".", 1)[-1]
    return f"{module}.{obj.__qualname__}"


def first_sentence(doc: str) -> str:
    """The docstring's first sentence, on one line, without reST markup."""
    text = " ".join((doc or "").strip().split("\n\n", 1)[0].split())
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text).replace("``", "`")
    text = re.sub(r"\*([^*\s][^*]*)\*", r"\1", text)       # reST emphasis (*port*) reads as plain words
    # A sentence ends at a full stop followed by a capital letter or the end, so that
    # "e.g." and "1, 2, ..." do not cut it short.
    match = re.match(r"(.+?[.!?])(?=\s+[A-Z(`*]|$)", text)
    return (match.group(1) if match else text) or "(no description)"


def _inline_code(escaped: str) -> str:
    """`code` in an already escaped line as <code>, as the notebook's Markdown would show it."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


class HowThisWorks:
    """One fold per helper: a closed ``<details>`` in HTML, one line each in plain text."""

    def __init__(self, helpers: list[Helper]) -> None:
        self.helpers = helpers

    @property
    def names(self) -> list[str]:
        return [_qualified(h) for h in self.helpers]

    def __repr__(self) -> str:
        lines = [f"How this works ({len(self.helpers)} helper{'s' if len(self.helpers) != 1 else ''}; "
                 f"open a fold, or read the code with `helper??`):"]
        lines += [f"- {_qualified(h)}: {first_sentence(inspect.getdoc(h) or '')}" for h in self.helpers]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        folds = []
        for helper in self.helpers:
            doc = inspect.getdoc(helper) or ""
            source = inspect.getsource(helper)
            path = inspect.getsourcefile(helper) or ""
            where = path[path.rfind("portlab/"):] if "portlab/" in path else path
            folds.append(
                "<details style='margin:0.2em 0'>"
                f"<summary>How <code>{html.escape(_qualified(helper))}</code> works: "
                f"{_inline_code(html.escape(first_sentence(doc)))}</summary>"
                f"<div style='margin-left:1.2em'><p style='white-space:pre-wrap'>{html.escape(doc)}</p>"
                f"<p>Its code, from <code>{html.escape(where)}</code>:</p>"
                f"<pre style='overflow-x:auto'><code>{html.escape(source)}</code></pre></div>"
                "</details>")
        return "<div class='portlab-how' role='group' aria-label='How this works'>" + "".join(folds) + "</div>"


def how(*things: Union[types.ModuleType, Helper]) -> HowThisWorks:
    """Folds for *things*: helpers, or lesson modules (every helper they define)."""
    if not things:
        raise TypeError("how() needs a helper or a lesson module, e.g. how(nb07) or how(nb07.walk)")
    helpers: list[Helper] = []
    for thing in things:
        if isinstance(thing, types.ModuleType):
            helpers.extend(helpers_of(thing))
        elif inspect.isfunction(thing) or inspect.isclass(thing):
            helpers.append(thing)
        else:
            raise TypeError(f"how(): {thing!r} is neither a helper (function or class) nor a module")
    return HowThisWorks(helpers)
