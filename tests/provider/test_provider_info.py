"""The provider registers cleanly: a schema error here would break provider discovery for everyone."""

from __future__ import annotations

import importlib
import json
from importlib.metadata import distribution, entry_points
from pathlib import Path

import jsonschema
import pytest

import airflow
from airflow_provider_markaestro.get_provider_info import get_provider_info


def _class_paths(info: dict) -> list[str]:
    paths = [c["hook-class-name"] for c in info["connection-types"]]
    paths += info["extra-links"]
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[section]:
            paths += entry["python-modules"]
    return paths


def test_provider_info_matches_airflow_schema():
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_package_name_is_the_distribution_name_and_entry_point_is_registered():
    info = get_provider_info()
    assert info["package-name"] == distribution("airflow-provider-markaestro").metadata["Name"]
    (ep,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_provider_markaestro")]
    assert ep.load() is get_provider_info


@pytest.mark.parametrize("path", _class_paths(get_provider_info()))
def test_every_class_path_imports(path):
    try:
        importlib.import_module(path)
    except ModuleNotFoundError:
        module, _, name = path.rpartition(".")
        assert getattr(importlib.import_module(module), name)


def test_connection_form_is_declared_for_the_ui():
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    meta = {m.connection_type: m for m in HookMetaService.hook_meta_data()}["markaestro"]
    assert meta.hook_name == "Markaestro"
    standard = meta.standard_fields
    assert standard.host.title == "Base URL"
    assert standard.password.title == "API key"
    assert standard.login.hidden and standard.port.hidden
    assert {"timeout", "max_retries", "web_url"} <= set(meta.extra_fields)


def test_hook_resolves_through_the_providers_manager():
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hook_info = ProvidersManagerTaskRuntime().hooks["markaestro"]
    assert hook_info.hook_class_name == "airflow_provider_markaestro.hook.MarkaestroHook"
