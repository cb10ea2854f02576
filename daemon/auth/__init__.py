"""Credentials: where keys come from, and (in later releases) logins and their refresh."""
