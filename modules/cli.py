"""The `higgsml` command: one entry point, one subcommand per job.

Each subcommand lives in its own module of `modules/commands/` exposing `add_arguments(parser)` and
`main(args) -> int`; this file only lists them, so adding a command never means editing an `if` chain.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from modules.errors import UserError

Registry = dict[str, tuple[str, str]]

COMMANDS: Registry = {
    "info": ("modules.commands.info", "show package versions, the detected hardware and the project's folders"),
    "data": ("modules.commands.data", "fetch, check, simulate and prepare the challenge data"),
    "list": ("modules.commands.list", "list the experiments with their paper IDs and which results exist"),
    "run": ("modules.commands.run", "execute an experiment notebook (or all of them) headless for a machine"),
    "search": ("modules.commands.search", "run or resume the hyper-parameter search (experiment 17), trial by trial"),
    "report": ("modules.commands.report", "write the results report beside the paper's numbers, with its plots"),
    "reproduce": ("modules.commands.reproduce", "run every experiment under the paper's six split seeds on this "
                                                "machine, then write the report"),
}


def add_subcommands(parser: argparse.ArgumentParser, registry: Registry, dest: str, only: str | None = None) -> None:
    """Add one subparser per registry entry (name -> (module, help)), letting each module declare its options. With
    `only`, the one command given, only its module is imported (the others keep their help line), so a command
    starts, or refuses, without first loading what the others need (torch, for the search)."""
    subparsers = parser.add_subparsers(dest=dest, metavar="COMMAND", required=True)
    for name, (module_name, help_text) in registry.items():
        if only is not None and name != only:
            subparsers.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip(),
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.main)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line's parser; given the arguments, only the named command's module is loaded."""
    parser = argparse.ArgumentParser(
        prog="higgsml",
        description="Reproduce Strong (2020), arXiv:2002.01427, on the ATLAS Higgs ML Challenge 2014 data with LUMIN.",
        epilog="Run `higgsml COMMAND --help` for a command's options.",
    )
    argv = sys.argv[1:] if argv is None else list(argv)
    add_subcommands(parser, COMMANDS, "command", only=argv[0] if argv and argv[0] in COMMANDS else None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as err:
        print(f"higgsml: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("higgsml: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
