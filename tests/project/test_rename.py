"""`make rename NAME=...` renames the service from any current name, everywhere it is a name."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from project.naming import DEFAULT_NAME
from scripts.rename import current_name, main, rename
from tests.kubernetes_manifests import render
from tests.processes import clean_env, copy_checkout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return copy_checkout(tmp_path / "service")


def test_rename_rewrites_every_place_the_service_is_named(checkout: Path) -> None:
    changed = rename(checkout, "billing_core")
    assert changed == [
        ".env.example",
        "README.md",
        "deploy/k8s/base/beat.yaml",
        "deploy/k8s/base/kustomization.yaml",
        "deploy/k8s/base/migrate.yaml",
        "deploy/k8s/base/realtime.yaml",
        "deploy/k8s/base/relay.yaml",
        "deploy/k8s/base/web.yaml",
        "deploy/k8s/base/worker.yaml",
        "deploy/k8s/overlays/production/kustomization.yaml",
        "deploy/k8s/secrets.env.example",
        "docker-compose.yml",
        "project/naming.py",
        "pyproject.toml",
        "uv.lock",
    ]
    assert 'DEFAULT_NAME = "billing_core"' in (checkout / "project/naming.py").read_text()
    assert '\nname = "billing_core"\n' in (checkout / "pyproject.toml").read_text()
    assert (
        '[[package]]\nname = "billing_core"\nversion = "0.1.0"\nsource = { virtual = "." }'
        in (checkout / "uv.lock").read_text()
    )
    compose = (checkout / "docker-compose.yml").read_text()
    assert "\nname: billing_core\n" in compose
    assert "postgres://billing_core:billing_core@postgres:5432/billing_core" in compose
    assert compose.count(": billing_core\n") == 4  # project name, POSTGRES_USER/PASSWORD/DB
    example = (checkout / ".env.example").read_text()
    assert "\nSERVICE_NAME=billing_core\n" in example
    assert "\nSERVICE_TITLE=Billing Core API\n" in example
    assert (checkout / "README.md").read_text().startswith("# Billing Core\n")


def test_the_renamed_manifests_carry_the_kubernetes_name_and_none_of_the_old(checkout: Path) -> None:
    old = DEFAULT_NAME.replace("_", "-")
    rename(checkout, "billing_core")
    objects = render(checkout / "deploy" / "k8s" / "overlays" / "production")
    assert {o["metadata"]["name"].split("-")[:2] == ["billing", "core"] for o in objects} == {True}
    assert {o["metadata"]["labels"]["app.kubernetes.io/name"] for o in objects} == {"billing-core"}
    assert {o["metadata"]["namespace"] for o in objects} == {"billing-core"}
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "Service"} == {
        "billing-core-web",
        "billing-core-realtime",
    }
    pods = [o["spec"]["template"]["spec"] for o in objects if o["kind"] in {"Deployment", "Job"}]
    workloads = [c for pod in pods for c in [*pod.get("initContainers", []), *pod["containers"]]]
    assert {c["image"] for c in workloads} == {"billing-core:0.1.0"}
    assert {s["secretRef"]["name"] for c in workloads for s in c["envFrom"] if "secretRef" in s} == {
        "billing-core-secrets"
    }
    (config,) = [o for o in objects if o["kind"] == "ConfigMap"]
    assert config["data"]["DJANGO_ALLOWED_HOSTS"] == "localhost,billing-core.example.com"
    # Not a word of the old name in what Kubernetes receives (comments are not rendered). The new name is
    # set aside first: a service already renamed to `billing` is renamed here to `billing_core`.
    rendered = json.dumps(objects).replace("billing-core", "").replace("billing_core", "")
    assert re.findall(rf"(?<![A-Za-z0-9_.-]){re.escape(old)}(?![A-Za-z0-9_])", rendered) == []
    example = (checkout / "deploy" / "k8s" / "secrets.env.example").read_text()
    assert "generic billing-core-secrets --from-env-file=deploy/k8s/.env --namespace billing-core\n" in example


def test_renaming_twice_works_from_the_current_name(checkout: Path) -> None:
    rename(checkout, "billing")
    rename(checkout, "invoices")
    assert current_name(checkout) == "invoices"
    compose = (checkout / "docker-compose.yml").read_text()
    assert "billing" not in compose
    assert "postgres://invoices:invoices@postgres:5432/invoices" in compose


def test_the_renamed_service_derives_its_names_from_the_new_default(checkout: Path) -> None:
    rename(checkout, "billing")
    script = (
        "import project.settings as s; "
        "print(s.SERVICE_NAME, s.EVENTS_QUEUE, s.CELERY_TASK_DEFAULT_QUEUE, s.EVENTS_DEAD_LETTER_QUEUE, "
        "s.CELERY_CONTROL_EXCHANGE, s.CELERY_EVENT_EXCHANGE, s.CACHES['default']['KEY_PREFIX'], "
        "s.METRICS_NAMESPACE, repr(s.SPECTACULAR_SETTINGS['TITLE']))"
    )
    env = clean_env()
    env.pop("SERVICE_NAME", None)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=checkout, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == [
        "billing",
        "billing.events",
        "billing.tasks",
        "billing.dead-letters",
        "billing",
        "billing.celeryev",
        "billing",
        "billing",
        "'Billing",
        "API'",
    ]


def test_a_drifted_file_fails_the_rename_without_partial_writes(checkout: Path) -> None:
    compose = checkout / "docker-compose.yml"
    compose.write_text(compose.read_text().replace(f"pg_isready -U {DEFAULT_NAME}", "pg_isready"))
    with pytest.raises(ValueError, match=r"docker-compose\.yml"):
        rename(checkout, "billing")
    assert current_name(checkout) == DEFAULT_NAME
    assert f'\nname = "{DEFAULT_NAME}"\n' in (checkout / "pyproject.toml").read_text()


@pytest.mark.parametrize("name", ["Billing-API", "9lives", "b", "billing.core", ""])
def test_rename_refuses_names_that_are_not_identifiers(
    name: str, checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([name, "--root", str(checkout)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("rename: NAME must be lowercase")
    assert error.count("\n") == 1
    assert current_name(checkout) == DEFAULT_NAME
