"""Limits shared by the syntax engine and its front ends (a light module: no parser imported)."""

#: Most values one override may give (SPEC 1.1), unless the caller raises it.
MAX_VALUES = 10**6
