"""A tiny chat website for testing the bridge engine itself, before and beside the mocks of the
real sites: :mod:`.server` serves a page (``static/``) whose script streams an SSE answer
through ``window.fetch``, with knobs for every failure the engine handles; :mod:`.site` is the
:class:`~bridges.site.SiteSpec` the engine drives it with (named in a daemon's config as
``[bridges.echo] spec = "tests.fakes.sites.echo.site:SPEC"``).

Modules are imported by path; nothing is re-exported here.
"""
