"""Faceset tools: extraction, the faceset store, sorting and pruning, pose coverage."""
