"""Playwright website bridges (chat.z.ai, chat.qwen.ai).

Imported lazily by the daemon, never at start: ``import daemon`` must not import playwright.
The bridges themselves arrive with their own issue; this package holds the import name.
"""
