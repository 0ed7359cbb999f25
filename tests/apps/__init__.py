"""Tiny ASGI apps and a launcher script used by the server runtime's process tests."""
