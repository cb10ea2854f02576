"""Website bridges: chat.z.ai and chat.qwen.ai driven in a real Chromium when no key is there.

Imported lazily by the daemon (``daemon.app`` opens :class:`bridges.runner.Bridges` in its
lifecycle); playwright itself loads only with the first browser (:mod:`bridges.browser` is the
one module that imports it). The engine: :mod:`bridges.runner` (queues, recovery, status),
:mod:`bridges.flow` (one turn on a page), :mod:`bridges.tap` (the site's own completion stream,
copied to Python), :mod:`bridges.browser` and :mod:`bridges.procs` (Chromium's lifecycle).
A site is one module filling in :class:`bridges.site.SiteSpec` (``bridges/zai.py``,
``bridges/qwen.py``; see :mod:`bridges.site` for the contract).
"""
