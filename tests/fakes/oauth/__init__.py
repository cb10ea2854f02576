"""A fake OAuth authorization server for every provider login (see ``server``)."""
