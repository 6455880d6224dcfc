"""``portlab`` on the command line: one parser, a sub-command per module in
:mod:`portlab.commands`.  Every failure a user can cause ends here as one line on
stderr and the exit status :mod:`portlab.errors` documents; never a traceback."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from typing import Callable, NoReturn, Optional, Sequence

from . import __version__
from .errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, PortlabError, from_os_error

# Sub-command modules, imported only when the parser is built so that
# `portlab lookup` does not pay for the scanner's imports.
COMMANDS = ("lookup", "scan", "show", "lab", "record")


class OneLineParser(argparse.ArgumentParser):
    """argparse prints a usage block on error; we promise one line."""

    def format_help(self) -> str:
        # Sub-commands take their description from their module docstring, written in
        # reST for the API docs; a terminal shows ``code`` as plain code.
        return super().format_help().replace("``", "")

    def error(self, message: str) -> NoReturn:
        if message.startswith("the following arguments are required"):
            # Something is missing: say what a whole command looks like, still on one line.
            usage = " ".join(self.format_usage().split())
            message = f"{message} ({usage}; more: {self.prog} --help)"
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


class PortlabParser(OneLineParser):
    """The ``portlab`` command's own parser: an nmap user who types an option portlab does
    not have is told so in words, not with argparse's "unrecognized arguments"."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments: "):
            extra = message.split(": ", 1)[1].split()[0]
            if extra.startswith("-"):
                message = f"{extra}: not an option portlab knows (portlab COMMAND --help lists them)"
            else:
                message = f"{extra}: unexpected argument (portlab COMMAND --help shows the usage)"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = PortlabParser(prog="portlab", description="Ports, port scanning and firewalls, for learning.")
    parser.add_argument("--version", action="version", version=f"portlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"portlab.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"portlab.commands.{name}":
                continue  # that command is not built yet
            raise
        module.register(sub)
    return parser


def _terminate(signum, frame) -> NoReturn:
    raise KeyboardInterrupt


def sigterm_as_ctrl_c():
    """From now on SIGTERM (a teacher's `kill`, a closing terminal, a CI runner stopping
    a job) raises KeyboardInterrupt, so it cleans up as Ctrl-C does: sockets closed,
    labs torn down, no partial file.  By default it would end Python on the spot,
    ``finally`` blocks unrun.  Main thread only; returns the previous handler."""
    return signal.signal(signal.SIGTERM, _terminate)


def at_the_edge(label: str, work: Callable[[], Optional[int]]) -> int:
    """Run *work* as a command: SIGTERM stops it as Ctrl-C does, and whatever a user can
    cause ends as one line on stderr, ``LABEL: what``, with its documented exit status."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = sigterm_as_ctrl_c()
    try:
        return int(work() or 0)
    except BrokenPipeError:
        # `portlab lookup tcp | head`: the reader went away, which is not an error.
        sys.stderr.close()
        return 0
    except (PortlabError, OSError) as err:
        # The edge: whatever got this far becomes one line and its documented status.
        # ScopeRefused and MissingPrivilege are PermissionErrors too: they keep their own status.
        if isinstance(err, OSError) and not isinstance(err, PortlabError):
            err = from_os_error(err, f"{label.split()[-1]} failed")
        print(f"{label}: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"{label}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["scan"]:
        # nmap options portlab does not do are named before argparse reads the line, so that
        # neither "unrecognized arguments" nor a host lookup of the option's argument happens.
        from .commands.scan import unsupported
        line = unsupported(argv[1:])
        if line:
            print(f"portlab scan: {line}", file=sys.stderr)
            return EXIT_BAD_INPUT
    parser = build_parser()
    args = parser.parse_args(argv)
    return at_the_edge(f"portlab {args.command}", lambda: args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
