"""Apache Airflow provider for Markaestro, the social-media publishing service."""

from __future__ import annotations

__version__ = "0.1.0"
