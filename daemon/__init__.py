"""Switchboard: a local JSON-RPC gateway between programs and LLM providers."""

__version__ = "0.1.0"
