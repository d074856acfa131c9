"""The deployment files as written: docker-compose.yml (parsed), the nginx upstreams, the Dockerfile."""

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

# The deployment files as written: no database involved.
pytestmark = pytest.mark.engine_independent

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "llm-gateway:latest"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def gateways(compose: dict[str, Any], profile: str | None = None) -> list[str]:
    """Long-running gateway services started with `profile` (None: a plain `up`)."""
    return [
        name
        for name, service in services(compose).items()
        if service.get("image") == IMAGE
        and service.get("command", ["serve"])[0] == "serve"
        and (not service.get("profiles") or profile in service["profiles"])
    ]


def named_volumes(service: dict[str, Any]) -> list[str]:
    sources = [str(volume).split(":", 1)[0] for volume in service.get("volumes", [])]
    return [source for source in sources if not source.startswith((".", "/", "~"))]


def test_the_stack_is_a_gateway_mongodb_and_redis(compose):
    assert {"app", "mongo", "redis", "setup"} <= services(compose).keys()
    assert services(compose)["mongo"]["image"].startswith("mongo:")
    assert services(compose)["redis"]["image"].startswith("redis:")
    assert gateways(compose) == ["app"]


def test_every_long_running_service_has_a_healthcheck(compose):
    for name, service in services(compose).items():
        if name == "setup":
            continue  # a job that ends; its success is what the gateways wait for
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
    app_check = " ".join(services(compose)["app"]["healthcheck"]["test"])
    assert "/healthz" in app_check


def test_each_service_keeps_its_data_in_a_named_volume(compose):
    declared = set(compose.get("volumes", {}))
    for name, service in services(compose).items():
        volumes = named_volumes(service)
        assert volumes, f"{name} has no named volume"
        assert set(volumes) <= declared, f"{name} uses undeclared volumes {set(volumes) - declared}"
    mongo = services(compose)["mongo"]
    assert any(v.endswith(":/data/db") for v in mongo["volumes"])
    assert any(v.endswith(":/data") for v in services(compose)["redis"]["volumes"])
    # Instances share nothing on disk: each gateway has volumes of its own, and its usage spool is on one.
    per_instance = [tuple(named_volumes(services(compose)[name])) for name in gateways(compose, "scale")]
    assert len(set(per_instance)) == len(per_instance)
    for name in gateways(compose, "scale"):
        service = services(compose)[name]
        mounts = [str(volume).split(":")[1] for volume in service["volumes"]]
        spool = service["environment"]["GATEWAY_SPOOL_DIR"]
        assert any(spool == mount or spool.startswith(mount + "/") for mount in mounts), name


def test_mongodb_is_a_single_node_replica_set_initiated_idempotently(compose):
    mongo = services(compose)["mongo"]
    command = " ".join(mongo["command"])
    assert "--replSet rs0" in command
    check = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate" in check and "rs.status()" in check  # initiates only when not yet initiated
    assert "isWritablePrimary" in check
    uri = services(compose)["app"]["environment"]["MONGO_URI"]
    assert uri.startswith("mongodb://mongo:27017/") and "replicaSet=rs0" in uri


def test_gateways_wait_for_healthy_dependencies_and_the_one_time_setup(compose):
    setup = services(compose)["setup"]
    assert setup["command"] == ["setup"] and setup["restart"] == "no"
    assert setup["depends_on"] == {
        "mongo": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    for name in gateways(compose, "scale"):
        assert services(compose)[name]["depends_on"] == {
            "mongo": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "setup": {"condition": "service_completed_successfully"},
        }, name
        environment = services(compose)[name]["environment"]
        assert environment["REDIS_URL"] == "redis://redis:6379/0" and environment["LOG_FORMAT"] == "json"
        assert environment["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")  # required, never a default


def test_setup_migrates_and_loads_prices_once():
    entrypoint = (ROOT / "deploy" / "entrypoint.sh").read_text()
    setup = entrypoint.split("setup)", 1)[1].split(";;", 1)[0]
    assert "manage.py migrate --noinput" in setup and "manage.py load_pricing" in setup
    assert 'manage.py create_operator --username "$ADMIN_USERNAME"' in setup  # idempotent: every `up` runs it
    serve = entrypoint.split("serve)", 1)[1].split(";;", 1)[0]
    assert "exec python manage.py serve --host 0.0.0.0 --port 8000" in serve


def test_the_scale_profile_runs_three_gateways_behind_the_load_balancer(compose):
    instances = gateways(compose, "scale")
    assert len(instances) == 3
    lb = services(compose)["lb"]
    assert lb["profiles"] == ["scale"]
    assert lb["image"].startswith(("nginx:", "haproxy:"))
    assert lb["depends_on"] == {name: {"condition": "service_healthy"} for name in instances}
    config_mount = next(v for v in lb["volumes"] if v.startswith("./deploy/"))
    config = (ROOT / config_mount.split(":", 1)[0]).read_text()
    upstreams = re.findall(r"^\s*server\s+([\w-]+):8000\b", config, flags=re.MULTILINE)
    assert sorted(upstreams) == sorted(instances)
    assert "proxy_buffering off" in config  # streams pass frame by frame


def test_the_image_is_slim_non_root_locked_and_health_checked():
    dockerfile = (ROOT / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert froms == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]  # a build stage, then the runtime stage
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", dockerfile, flags=re.MULTILINE)
    assert "uv sync --frozen --no-dev" in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    healthcheck = dockerfile.split("\nHEALTHCHECK ", 1)[1].split("\n\n", 1)[0]
    assert "CMD" in healthcheck and "/healthz" in healthcheck
    assert 'ENTRYPOINT ["/app/deploy/entrypoint.sh"]' in dockerfile and 'CMD ["serve"]' in dockerfile
    assert "LOG_FORMAT=json" in dockerfile


def test_the_build_context_leaves_secrets_and_local_state_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", ".venv", "spool"} <= set(ignored)


def test_published_ports_listen_on_localhost_unless_told_otherwise(compose):
    published = [port for service in services(compose).values() for port in service.get("ports", [])]
    assert published and all(port.startswith("${GATEWAY_BIND:-127.0.0.1}:") for port in published)


def test_the_setup_job_gets_the_first_operators_name_and_password(compose):
    environment = services(compose)["setup"]["environment"]
    assert environment["ADMIN_USERNAME"] == "${ADMIN_USERNAME:-}"
    assert environment["ADMIN_PASSWORD"] == "${ADMIN_PASSWORD:-}"
    assert environment["MONGO_URI"] == "mongodb://mongo:27017/?replicaSet=rs0"  # and the gateways' environment


@pytest.mark.skipif(
    not shutil.which("docker-compose"), reason="docker-compose is not installed (scripts/check-compose installs it)"
)
def test_the_compose_tool_accepts_the_file():
    result = subprocess.run([str(ROOT / "scripts" / "check-compose")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
