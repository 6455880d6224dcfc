"""Notebook-specific helpers: one module per notebook (nbNN.py), for what the toolkit does not have."""
