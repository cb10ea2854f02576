"""Offline mock chat websites (reference website-bridges.md §5) the website bridges are driven
against in real Chromium: ``zai/`` plays chat.z.ai; :mod:`tests.fakes.sites.common` holds what
every mock site shares (the echo answer engine, the ``/__mock__`` control plane, the request
recorder, scenarios, clock and the SSE writer with its timing knobs).

Modules are imported by path; nothing is re-exported here.
"""
