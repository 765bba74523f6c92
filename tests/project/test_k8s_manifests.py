"""deploy/k8s/: the base and the production overlay render, match the Kubernetes schemas, and say what the code does."""

from __future__ import annotations

import asyncio
import copy
import importlib
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from asgiref.sync import async_to_sync
from asgiref.typing import ASGIReceiveEvent, ASGISendEvent, HTTPRequestEvent, HTTPScope
from django.conf import settings
from django.core.management import get_commands
from django.test import Client, override_settings
from django.urls import resolve
from gunicorn.util import load_class
from gunicorn.workers.base import Worker
from kubernetes_validate import ValidationError

from apps.realtime.routing import websocket_urlpatterns
from project.asgi import application
from project.asgi_worker import UvicornWorker
from project.environment import EnvReader
from project.naming import DEFAULT_NAME, service_names
from tests.kubernetes_manifests import render, validate_strictly
from tests.processes import ROOT
from tests.project.test_configuration_docs import variables_read_by_the_code

K8S = ROOT / "deploy" / "k8s"
SCALING_DOC = ROOT / "docs" / "scaling.md"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"
NAME = service_names(EnvReader({"SERVICE_NAME": DEFAULT_NAME})).kubernetes_name
WORKLOADS = {"Deployment", "Job"}
GRACEFUL_TIMEOUT = 30  # gunicorn's graceful_timeout: GUNICORN_TIMEOUT's default (project/gunicorn_config.py)
HTTP_SERVERS = {"web", "realtime"}  # the Deployments behind a Service, probed on the health views
# docs/realtime.md#scaling: the WebSockets' server (tests/realtime/test_server.py runs it).
ASGI_COMMAND = [
    *["gunicorn", "--config", "python:project.gunicorn_config"],
    *["-k", "project.asgi_worker.UvicornWorker", "project.asgi:application"],
]

Manifest = dict[str, Any]


@pytest.fixture(scope="module", params=["base", "overlays/production"])
def rendered(request: pytest.FixtureRequest) -> list[Manifest]:
    return render(K8S / request.param)


@pytest.fixture(scope="module")
def production() -> list[Manifest]:
    return render(PRODUCTION)


def of_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    """The objects of `kind` by their name without the service's prefix (`web`, `worker`, ...)."""
    return {m["metadata"]["name"].removeprefix(f"{NAME}-"): m for m in manifests if m["kind"] == kind}


def pod_specs(manifests: list[Manifest]) -> Iterator[tuple[str, dict[str, Any]]]:
    for manifest in manifests:
        if manifest["kind"] in WORKLOADS:
            yield manifest["metadata"]["name"], manifest["spec"]["template"]["spec"]


def containers(manifests: list[Manifest]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, spec in pod_specs(manifests):
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            yield f"{name}/{container['name']}", container


def config_data(manifests: list[Manifest]) -> dict[str, str]:
    (config,) = [m for m in manifests if m["kind"] == "ConfigMap"]
    data: dict[str, str] = config["data"]
    return data


def test_every_object_matches_its_kubernetes_schema_strictly(rendered: list[Manifest]) -> None:
    kinds = {m["kind"] for m in rendered}
    assert kinds == {"ConfigMap", "Service", "Deployment", "Job", "HorizontalPodAutoscaler"} | {
        "PodDisruptionBudget",
        "NetworkPolicy",
    }
    for manifest in rendered:
        validate_strictly(manifest)  # raises on a wrong type, a missing required field or an unknown one


def test_strict_validation_refuses_a_field_kubernetes_does_not_know(production: list[Manifest]) -> None:
    web = copy.deepcopy(of_kind(production, "Deployment")["web"])
    web["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = web["spec"]["template"]["spec"]["containers"][
        0
    ].pop("livenessProbe")
    with pytest.raises(ValidationError):
        validate_strictly(web)


def test_the_workloads_run_the_service_s_processes(rendered: list[Manifest]) -> None:
    deployments = of_kind(rendered, "Deployment")
    assert set(deployments) == {"web", "realtime", "worker", "beat", "relay"}
    command = {name: d["spec"]["template"]["spec"]["containers"][0].get("command") for name, d in deployments.items()}
    # web keeps the image's own command: the Dockerfile's gunicorn.
    dockerfile_cmd = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)
    assert dockerfile_cmd is not None
    assert json.loads(dockerfile_cmd.group(1))[0] == "gunicorn"
    assert command["web"] is None
    assert command["realtime"] == ASGI_COMMAND
    assert command["worker"][:4] == ["celery", "-A", "project", "worker"]
    assert command["beat"][:4] == ["celery", "-A", "project", "beat"]
    assert command["relay"] == ["python", "manage.py", "events_relay"]
    assert "events_relay" in get_commands()
    (job,) = of_kind(rendered, "Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "python",
        "manage.py",
        "migrate",
        "--noinput",
    ]
    beat = deployments["beat"]["spec"]
    assert (beat["replicas"], beat["strategy"]["type"]) == (1, "Recreate"), "never two schedulers"


def test_the_realtime_command_names_a_worker_class_and_an_application_that_exist() -> None:
    options = dict(zip(ASGI_COMMAND[1:-1:2], ASGI_COMMAND[2:-1:2], strict=True))
    config_module = options["--config"].removeprefix("python:")
    assert importlib.import_module(config_module).graceful_timeout == GRACEFUL_TIMEOUT
    worker_class = load_class(options["-k"])  # how gunicorn resolves `-k`
    assert worker_class is UvicornWorker
    assert issubclass(worker_class, Worker)
    module, attribute = ASGI_COMMAND[-1].split(":")
    application = getattr(importlib.import_module(module), attribute)
    assert callable(application)
    assert {"http", "websocket"} <= set(application.application_mapping), "the sockets' route and the probes'"


def test_http_containers_probe_the_health_views_as_the_kubelet_would(rendered: list[Manifest]) -> None:
    allowed_hosts = EnvReader(config_data(rendered)).strings("DJANGO_ALLOWED_HOSTS", [])
    probed = [(name, c) for name, c in containers(rendered) if c.get("ports")]
    assert {name for name, _ in probed} == {f"{NAME}-{server}/{server}" for server in HTTP_SERVERS}
    for _, container in probed:
        port_names = {port["name"] for port in container["ports"]}
        expected = {"startupProbe": "health:live", "livenessProbe": "health:live", "readinessProbe": "health:ready"}
        for probe, view in expected.items():
            get = container[probe]["httpGet"]
            assert get["port"] in port_names
            assert resolve(get["path"]).view_name == view, f"{probe} {get['path']}"
            (host,) = [h["value"] for h in get["httpHeaders"] if h["name"] == "Host"]
            assert host in allowed_hosts, "the kubelet's Host must pass ALLOWED_HOSTS or every probe answers 400"
        assert container["readinessProbe"]["timeoutSeconds"] > settings.HEALTH_CHECK_TIMEOUT


@pytest.mark.django_db
def test_a_probe_request_with_the_manifest_s_host_is_answered_by_its_view(production: list[Manifest]) -> None:
    allowed_hosts = EnvReader(config_data(production)).strings("DJANGO_ALLOWED_HOSTS", [])
    web = of_kind(production, "Deployment")["web"]["spec"]["template"]["spec"]["containers"][0]
    with override_settings(ALLOWED_HOSTS=allowed_hosts):
        for probe in ["livenessProbe", "readinessProbe"]:
            get = web[probe]["httpGet"]
            host = get["httpHeaders"][0]["value"]
            response = Client().get(get["path"], HTTP_HOST=host)
            assert response.status_code in {200, 503}, probe  # not DisallowedHost's 400
            assert "status" in response.json()
        assert Client().get("/health/live", HTTP_HOST="10.1.2.3:8000").status_code == 400, "why the Host header"


@pytest.mark.django_db
def test_realtime_s_probes_are_answered_through_the_asgi_application_it_serves(production: list[Manifest]) -> None:
    allowed_hosts = EnvReader(config_data(production)).strings("DJANGO_ALLOWED_HOSTS", [])
    realtime = of_kind(production, "Deployment")["realtime"]["spec"]["template"]["spec"]["containers"][0]

    async def request(path: str, host: str) -> dict[str, Any]:
        """One GET as uvicorn hands it to the application: the whole body, then nothing until a disconnect."""
        scope: HTTPScope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", host.encode())],
            "client": ("10.0.0.1", 40000),
            "server": ("10.0.0.2", 8000),
            "extensions": None,
        }
        body: HTTPRequestEvent = {"type": "http.request", "body": b"", "more_body": False}
        messages = iter([body])
        sent: list[ASGISendEvent] = []

        async def receive() -> ASGIReceiveEvent:
            if (message := next(messages, None)) is not None:
                return message
            await asyncio.Event().wait()  # the client stays connected; the application cancels this wait
            raise AssertionError("unreachable")

        async def send(message: ASGISendEvent) -> None:
            sent.append(message)

        await asyncio.wait_for(application(scope, receive, send), timeout=10)
        start, *rest = sent
        assert start["type"] == "http.response.start"
        chunks = [m["body"] for m in rest if m["type"] == "http.response.body"]
        return {"status": start["status"], "body": b"".join(chunks)}

    def probe(path: str, host: str) -> dict[str, Any]:
        return async_to_sync(request)(path, host)

    with override_settings(ALLOWED_HOSTS=allowed_hosts):
        for name in ["startupProbe", "livenessProbe", "readinessProbe"]:
            get = realtime[name]["httpGet"]
            (host,) = [h["value"] for h in get["httpHeaders"] if h["name"] == "Host"]
            response = probe(get["path"], host)
            assert response["status"] in {200, 503}, name  # not DisallowedHost's 400
            assert "status" in json.loads(response["body"]), name
        assert probe("/health/live", "10.1.2.3:8000")["status"] == 400, "why the Host header"


def test_non_http_containers_have_no_probe_that_could_point_nowhere(rendered: list[Manifest]) -> None:
    for name, container in containers(rendered):
        if not container.get("ports"):
            assert not {"startupProbe", "livenessProbe", "readinessProbe"} & set(container), name


def test_every_process_that_reads_the_database_waits_for_the_migrations(rendered: list[Manifest]) -> None:
    specs = {name.removeprefix(f"{NAME}-"): spec for name, spec in pod_specs(rendered)}
    waiting = {
        name
        for name, spec in specs.items()
        for init in spec.get("initContainers", [])
        if init["command"] == ["python", "manage.py", "migrate", "--check"]
    }
    # beat only sends periodic tasks (no query); the migrate Job is what the others wait for.
    assert waiting == set(specs) - {"beat", "migrate"} == {"web", "realtime", "worker", "relay"}


def test_every_container_has_resource_requests_and_limits(rendered: list[Manifest]) -> None:
    for name, container in containers(rendered):
        resources = container["resources"]
        for bound in ["requests", "limits"]:
            assert set(resources[bound]) == {"cpu", "memory"}, f"{name} {bound}"


def test_secrets_are_only_referenced_never_in_the_manifests(rendered: list[Manifest]) -> None:
    assert [m for m in rendered if m["kind"] == "Secret"] == []
    for name, container in containers(rendered):
        refs = [source["secretRef"]["name"] for source in container["envFrom"] if "secretRef" in source]
        assert refs == [f"{NAME}-secrets"], name
        assert all("valueFrom" not in var and "value" in var for var in container.get("env", []))


def test_every_variable_the_manifests_set_is_one_the_code_reads(rendered: list[Manifest]) -> None:
    read = variables_read_by_the_code()
    assert set(config_data(rendered)) - read == set()
    for name, container in containers(rendered):
        assert {var["name"] for var in container.get("env", [])} - read == set(), name
    example = (K8S / "secrets.env.example").read_text()
    secrets = dict(re.findall(r"^([A-Z][A-Z0-9_]+)=(.*)$", example, flags=re.MULTILINE))
    assert set(secrets) == {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}
    assert set(secrets) <= read
    assert set(secrets.values()) == {""}, "the example carries no value"
    assert not set(secrets) & set(config_data(rendered)), "a secret is never in the ConfigMap"


def test_selectors_match_the_pods_they_mean(rendered: list[Manifest]) -> None:
    deployments = of_kind(rendered, "Deployment")
    templates = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments.items()}

    def selected(selector: dict[str, str]) -> set[str]:
        return {name for name, labels in templates.items() if selector.items() <= labels.items()}

    for name, deployment in deployments.items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selected(selector) == {name}
        assert selector["app.kubernetes.io/name"] == NAME, "two services in one namespace never share pods"
    services = of_kind(rendered, "Service")
    assert {name: selected(s["spec"]["selector"]) for name, s in services.items()} == {
        server: {server} for server in HTTP_SERVERS
    }
    for name, service in services.items():
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        (port,) = service["spec"]["ports"]
        assert port["targetPort"] in {p["name"] for p in container["ports"]}, name
    budgets = of_kind(rendered, "PodDisruptionBudget")
    assert {name: selected(b["spec"]["selector"]["matchLabels"]) for name, b in budgets.items()} == {
        "web": {"web"},
        "realtime": {"realtime"},
        "worker": {"worker"},
    }
    policies = of_kind(rendered, "NetworkPolicy")
    assert selected(policies["pods"]["spec"]["podSelector"]["matchLabels"]) == set(deployments)
    for server in HTTP_SERVERS:
        assert selected(policies[server]["spec"]["podSelector"]["matchLabels"]) == {server}


def test_the_autoscalers_target_deployments_that_leave_the_replica_count_to_them(rendered: list[Manifest]) -> None:
    deployments = of_kind(rendered, "Deployment")
    scalers = of_kind(rendered, "HorizontalPodAutoscaler")
    assert set(scalers) == {"web", "realtime", "worker"}
    for name, scaler in scalers.items():
        target = scaler["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", f"{NAME}-{name}")
        assert "replicas" not in deployments[name]["spec"], "a Deployment's count would fight the autoscaler's"
        assert 1 < scaler["spec"]["minReplicas"] < scaler["spec"]["maxReplicas"]


def test_network_policies_let_in_only_the_http_servers_port_and_out_only_dns_and_the_backing_services(
    rendered: list[Manifest],
) -> None:
    policies = of_kind(rendered, "NetworkPolicy")
    pods = policies["pods"]["spec"]
    assert pods["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in pods
    ports = {(port["port"], port["protocol"]) for rule in pods["egress"] for port in rule["ports"]}
    assert ports == {(53, "UDP"), (53, "TCP"), (5432, "TCP"), (6379, "TCP"), (5672, "TCP"), (5671, "TCP")} | {
        (9497, "TCP"),
        (443, "TCP"),
    }
    assert set(policies) == {"pods"} | HTTP_SERVERS
    for server in HTTP_SERVERS:
        assert policies[server]["spec"]["policyTypes"] == ["Ingress"], "egress stays the `pods` policy's"
        (rule,) = policies[server]["spec"]["ingress"]
        assert rule["ports"] == [{"port": "http", "protocol": "TCP"}], server
        assert "from" not in rule


def test_every_pod_runs_unprivileged_on_a_read_only_root(rendered: list[Manifest]) -> None:
    for name, spec in pod_specs(rendered):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == 10001, "the Dockerfile's USER"
        assert spec["automountServiceAccountToken"] is False
        assert {v["name"]: "emptyDir" in v for v in spec["volumes"]} == {"tmp": True}
    for name, container in containers(rendered):
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"] == {"drop": ["ALL"]}, name
        assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}], name


def test_termination_grace_covers_each_process_s_graceful_shutdown(rendered: list[Manifest]) -> None:
    specs = {name.removeprefix(f"{NAME}-"): spec for name, spec in pod_specs(rendered)}
    for server in HTTP_SERVERS:  # gunicorn, sync or uvicorn workers: graceful_timeout bounds the drain
        spec = specs[server]
        (pre_stop_sleep,) = spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1:]
        assert spec["terminationGracePeriodSeconds"] > int(pre_stop_sleep) + GRACEFUL_TIMEOUT, server
    assert specs["worker"]["terminationGracePeriodSeconds"] > settings.CELERY_TASK_TIME_LIMIT


def test_every_name_is_the_service_s(rendered: list[Manifest]) -> None:
    for manifest in rendered:
        assert manifest["metadata"]["name"].startswith(f"{NAME}-")
        assert manifest["metadata"]["labels"]["app.kubernetes.io/name"] == NAME
    for name, container in containers(rendered):
        assert container["image"].rsplit("/", 1)[-1].split(":")[0] == NAME, name


def test_the_production_overlay_pins_the_release_and_its_namespace(production: list[Manifest]) -> None:
    base = render(BASE)
    assert {m.get("metadata", {}).get("namespace") for m in production} == {NAME}
    assert {m["metadata"].get("namespace") for m in base} == {None}, "the base leaves the namespace to the overlay"
    images = {container["image"] for _, container in containers(production)}
    assert len(images) == 1
    assert not images.pop().endswith(":latest")
    assert of_kind(production, "Deployment")["relay"]["spec"]["replicas"] == 2
    scalers = of_kind(production, "HorizontalPodAutoscaler")
    assert {name: scaler["spec"]["minReplicas"] for name, scaler in scalers.items()} == {
        "web": 3,
        "realtime": 3,
        "worker": 2,
    }
    web = of_kind(production, "Deployment")["web"]["spec"]["template"]["spec"]["containers"][0]
    assert web["resources"]["limits"]["memory"] == "1Gi"
    assert web["env"] == [{"name": "WEB_CONCURRENCY", "value": "4"}]
    hosts = EnvReader(config_data(production)).strings("DJANGO_ALLOWED_HOSTS", [])
    assert hosts[0] == "localhost", "the probes' host"
    assert len(hosts) > 1, "and the public ones"


def documented_ingress() -> Manifest:
    """The Ingress example of docs/scaling.md#routing-ws-to-realtime (the base ships none)."""
    blocks = re.findall(r"^```yaml\n(.*?)^```$", SCALING_DOC.read_text(), flags=re.MULTILINE | re.DOTALL)
    (ingress,) = [m for m in map(yaml.safe_load, blocks) if m.get("kind") == "Ingress"]
    manifest: Manifest = ingress
    return manifest


def routed_to(ingress: Manifest, path: str) -> str:
    """The backend Service `path` goes to: pathType Prefix matches whole elements, the longest wins."""
    elements = [e for e in path.split("/") if e]
    (rule,) = ingress["spec"]["rules"]
    matches = []
    for route in rule["http"]["paths"]:
        assert route["pathType"] == "Prefix"
        prefix = [e for e in route["path"].split("/") if e]
        if elements[: len(prefix)] == prefix:
            matches.append((len(prefix), route["backend"]["service"]))
    _, service = max(matches, key=lambda match: match[0])
    name: str = service["name"]
    return name


def test_the_documented_ingress_sends_ws_to_realtime_and_the_rest_to_web(production: list[Manifest]) -> None:
    ingress = documented_ingress()
    validate_strictly(ingress)
    # The docs name the template's objects; a renamed service reads its own name there.
    documented_name = ingress["metadata"]["namespace"]
    services = of_kind(production, "Service")
    for route in ingress["spec"]["rules"][0]["http"]["paths"]:
        backend = route["backend"]["service"]
        service = services[backend["name"].removeprefix(f"{documented_name}-")]
        assert backend["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}
    (rule,) = ingress["spec"]["rules"]
    public_host = rule["host"].replace(documented_name, NAME, 1)
    assert public_host in EnvReader(config_data(production)).strings("DJANGO_ALLOWED_HOSTS", [])
    realtime, web = f"{documented_name}-realtime", f"{documented_name}-web"
    # Every WebSocket route is under /ws/ (else the Ingress would send it to web's WSGI, which has no sockets).
    patterns = {str(route.pattern) for route in websocket_urlpatterns} - {""}  # "": the 4404 catch-all
    assert "ws/v1/events/" in patterns
    assert all(pattern.startswith("ws/") for pattern in patterns)
    expected = {"/ws/v1/events/": realtime, "/api/v1/documents/": web, "/health/ready": web, "/wsx": web, "/": web}
    assert {path: routed_to(ingress, path) for path in expected} == expected
