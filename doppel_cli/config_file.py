"""`--config FILE` for `doppel render`, `analyze` and `extract` (as `train -c` and timm's train
script): a YAML mapping of option names (`blur: 12`, `color: rct`, `model: m.onnx`; dashes or
underscores) becomes the options' defaults, and flags on the command line override it. Required
options a file provides are no longer required on the command line. `--save-config FILE` writes
the resolved options (file and flags merged) as YAML that `--config` reads back, so a run can be
repeated exactly; each output also records them (EXR metadata, the track's and the faceset's
settings).

Unknown keys, and positional arguments (input, output pattern), are refused by name: a typo in a
config must not silently fall back to a default.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from engine.errors import InputError, OutputError, SettingsError
from engine.io.atomic import atomic_write_text

MARK = "# doppel resolved options"  # first line of every file --save-config writes
SKIP = {"help", "config", "save_config", "run", "command"}


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="YAML",
                        help="options from a YAML file (keys as the long flags); flags given "
                             "here override it")
    parser.add_argument("--save-config", metavar="YAML",
                        help="write the resolved options (file and flags) to this YAML file")


def _options(parser: argparse.ArgumentParser) -> dict[str, list[argparse.Action]]:
    """Option actions by destination (a key is the destination with dashes: `overlap`, `view`);
    several flags may share one (`--no-overlap` and its old name)."""
    out: dict[str, list[argparse.Action]] = {}
    for a in parser._actions:  # noqa: SLF001 - argparse has no public list
        if a.option_strings and a.dest not in SKIP and a.dest != argparse.SUPPRESS:
            out.setdefault(a.dest, []).append(a)
    return out


def _dest_of(key: str, options: dict[str, list[argparse.Action]]) -> str | None:
    """The destination a config key names: the destination itself or any of its flags."""
    dest = key.lstrip("-").replace("-", "_")
    if dest in options:
        return dest
    for d, actions in options.items():
        if any(o.lstrip("-").replace("-", "_") == dest for a in actions
               for o in a.option_strings):
            return d
    return None


def load_config(parser: argparse.ArgumentParser, path: str) -> None:
    """Make the YAML file's values `parser`'s defaults (raises SettingsError/InputError)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise InputError(f"--config {path}: file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SettingsError(f"--config {path}: not valid YAML{where}; fix the file") from None
    if data is None:
        return
    if not isinstance(data, dict):
        raise SettingsError(f"--config {path}: needs a mapping of option: value, got "
                            f"{type(data).__name__}")
    options = _options(parser)
    positional = {a.dest for a in parser._actions if not a.option_strings}  # noqa: SLF001
    for key, value in data.items():
        dest = str(key).replace("-", "_")
        if dest in positional:
            raise SettingsError(f"--config {path}: {key!r} is a positional argument; give it on "
                                "the command line")
        found = _dest_of(str(key), options)
        if found is None:
            known = ", ".join(sorted(k.replace("_", "-") for k in options))
            raise SettingsError(f"--config {path}: unknown option {key!r}; known: {known}")
        action = options[found][0]
        if action.type is not None and value is not None and not isinstance(value, bool):
            try:
                value = action.type(value)
            except (TypeError, ValueError):
                raise SettingsError(f"--config {path}: {key}: {value!r} is not a valid "
                                    "value") from None
        if action.choices is not None and value not in action.choices:
            raise SettingsError(f"--config {path}: {key}: {value!r} is not one of "
                                f"{', '.join(map(str, action.choices))}")
        for a in options[found]:
            a.default = value
            a.required = False


def resolved(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    """The options of this run as `--config` reads them (destinations, dashes)."""
    return {dest.replace("_", "-"): getattr(args, dest, None) for dest in _options(parser)}


def claim_save_config(path: str) -> Path:
    """The ownership rule for `--save-config FILE` (checked before the command runs, and again
    when writing): a new file, or one --save-config wrote."""
    from engine.io.ownership import Claims, text_mark

    try:
        return Claims(hint="choose another file").file(path, text_mark("options file", MARK))
    except OutputError as exc:
        raise OutputError(f"--save-config {exc}") from None


def save_config(path: str, options: dict[str, Any], command: str) -> None:
    """Write the resolved options; only a new file or one this option wrote is replaced."""
    p = claim_save_config(path)
    text = f"{MARK} (doppel {command}); use with --config\n" + yaml.safe_dump(
        options, sort_keys=True, default_flow_style=False)
    atomic_write_text(p, text)


def parse_with_config(parser: argparse.ArgumentParser, sub: argparse.ArgumentParser,
                      argv: list[str]) -> argparse.Namespace:
    """Parse `argv`; with `--config` in it, the file's values become `sub`'s defaults first."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv[1:])
    if known.config:
        load_config(sub, known.config)
    return parser.parse_args(argv)
