"""The offline mock of chat.z.ai (reference website-bridges.md §2, §5.2).

``app`` builds it (``create_app``, ``running_site``); ``config`` lists its knobs and scenarios;
``pages``, ``api``, ``completion`` and ``stream`` serve the shell and SPA, the JSON API, the
completion's validation pipeline and its SSE bytes; ``static/`` holds the page's own JavaScript.
"""
