"""Foundry: frontier data — samples a model generated and something stricter than the model accepted."""

__version__ = "0.1.0"
