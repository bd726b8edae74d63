"""`doppel export`: checkpoint → ONNX (implemented in trainers.cli; torch is imported lazily)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    from trainers.cli import add_export_arguments

    add_export_arguments(p)
