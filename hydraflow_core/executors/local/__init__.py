"""The local backend: one scheduling loop (:mod:`.executor`) over forked workers or subprocesses."""
