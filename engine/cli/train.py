"""`doppel train`: registered here, implemented in trainers.cli (torch is imported only then)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    from trainers.cli import add_train_arguments

    add_train_arguments(p)
