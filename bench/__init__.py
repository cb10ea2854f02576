"""Switchboard benchmarks: measurements, not tests.

``python -m bench`` runs every public module of this package (a name without a leading
underscore) that defines ``run(quick: bool) -> bool``; the underscore modules are the shared
machinery (server launcher, load generator, baseline server, report). ``--quick`` shrinks
every benchmark to a smoke run.
"""
