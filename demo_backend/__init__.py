"""The demo backend: a small FastAPI app that stands behind Edgeward in demos and tests.

``create_app`` builds it; ``python -m demo_backend`` serves it. With a verifier it
accepts only requests signed by the proxy (``proxy.verify``); without one it runs
unverified and says so at start.
"""

from demo_backend.app import VerifierUnavailable, create_app, install_verifier

__all__ = ["VerifierUnavailable", "create_app", "install_verifier"]
