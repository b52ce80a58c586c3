"""The extended sweep syntax (SPEC 1): tokenizer, parser, exact values, runs."""

from .sweep import MAX_VALUES, SweepSpace, parse_sweep

__all__ = ["MAX_VALUES", "SweepSpace", "parse_sweep"]
