"""Edgeward: a self-hosted identity-aware reverse proxy.

Kept free of imports so that ``proxy.verify`` can be used by backends without
pulling in the rest of the proxy.
"""

__version__ = "0.1.0"
