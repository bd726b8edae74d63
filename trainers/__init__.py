"""Doppel trainers (PyTorch): DF/LIAE face models, XSeg, losses, the training loop and CLI.

Arrives with the trainer issue; the package exists now so the install layout is fixed.
"""
