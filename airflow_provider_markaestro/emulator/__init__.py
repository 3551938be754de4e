"""Local emulator of the Markaestro Public and Connect APIs (wire contract: markaestro-api.md).

Standalone on purpose: it imports neither Airflow nor the provider, so it starts fast in tests
and demos. Start it with `python -m airflow_provider_markaestro.emulator` or `EmulatorServer`.
"""

from __future__ import annotations

from .app import create_app
from .seed import DEMO_SEED_PATH, load_seed
from .server import EmulatorServer

__all__ = ["DEMO_SEED_PATH", "EmulatorServer", "create_app", "load_seed"]
