"""Doppel engine: the per-frame face-replacement pipeline (no torch import anywhere here)."""

__version__ = "0.2.0"
