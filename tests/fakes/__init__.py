"""Offline fakes of the upstream provider APIs the daemon talks to (tests and benchmarks only).

The modules are imported by path (``tests.fakes.openai_chat``); nothing is re-exported here, so
``python -m tests.fakes.openai_chat`` runs without a double-import warning.
"""
