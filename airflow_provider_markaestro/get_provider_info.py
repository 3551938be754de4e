"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

The connection form is declared here (``conn-fields`` / ``ui-field-behaviour``): since Airflow 3.2
that is the only place the UI reads it from, without importing the hook.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_markaestro import __version__

_INTEGRATION = "Markaestro"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-markaestro",
        "name": "Markaestro",
        "description": "Publish social-media posts with Markaestro: upload media, create, publish and follow posts.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://markaestro.com/developers/api",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": _INTEGRATION, "python-modules": ["airflow_provider_markaestro.hook"]}],
        "operators": [{"integration-name": _INTEGRATION, "python-modules": [
            "airflow_provider_markaestro.operators", "airflow_provider_markaestro.connect_operators",
        ]}],
        "sensors": [{"integration-name": _INTEGRATION, "python-modules": ["airflow_provider_markaestro.sensors"]}],
        "triggers": [{"integration-name": _INTEGRATION, "python-modules": ["airflow_provider_markaestro.triggers"]}],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_markaestro.hook.MarkaestroHook",
                "hook-name": "Markaestro",
                "connection-type": "markaestro",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {"host": "Base URL", "password": "API key"},
                    "placeholders": {
                        "host": "https://markaestro.com",
                        "password": "mk_live_<workspace>.<client>.<secret>",
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "Per-request timeout.",
                        "schema": {"type": ["number", "null"], "default": 30},
                    },
                    "max_retries": {
                        "label": "Max attempts",
                        "description": "Attempts for 429, 5xx and network errors before failing.",
                        "schema": {"type": ["integer", "null"], "default": 6},
                    },
                    "web_url": {
                        "label": "Web URL for links",
                        "description": "Where the task links to posts and runs point (defaults to the base URL).",
                        "schema": {"type": ["string", "null"]},
                    },
                },
            }
        ],
        "extra-links": [
            "airflow_provider_markaestro.links.MarkaestroPostLink",
            "airflow_provider_markaestro.links.MarkaestroJobRunLink",
        ],
    }
