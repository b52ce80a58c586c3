"""Limits shared by the syntax engine and its front ends (a light module: no parser imported)."""

#: Most values one override may give (SPEC 1.1), unless the caller raises it.
MAX_VALUES = 10**6
#: Most batches one job may have, unless --max-batches raises it (counted before any is built).
MAX_BATCHES = 100_000
