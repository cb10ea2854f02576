"""The mock chat.qwen.ai (reference website-bridges.md §5.3): the guest SPA, the stand-in Baxia
SDK and slider, the ``/api/v2`` endpoints with their validation pipeline, the SSE stream, the
scenarios of §5.5 and the shared ``/__mock__/`` control plane.

Modules are imported by path (``tests.fakes.sites.qwen.app``); nothing is re-exported here.
"""
