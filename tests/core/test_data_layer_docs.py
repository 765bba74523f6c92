"""docs/data-layer.md cannot rot: snippets run here, the model listing is the source, the check table the checks."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.db import models
from django.test import AsyncClient
from django.test.utils import isolate_apps
from django.urls import path
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.core.checks import soft_delete_model_messages
from apps.core.models import SoftDeleteMixin
from apps.core.querysets import AllObjectsManager
from tests.testapp import models as testapp_models

DOC = (Path(__file__).resolve().parents[2] / "docs" / "data-layer.md").read_text()
MODELS_MARKER = "# tests/testapp/models.py"
ASYNC_VIEW_MARKER = "async def whoami"


def _blocks() -> list[str]:
    # Indented blocks (inside list items) are dedented to run.
    return [inspect.cleandoc(block) for block in re.findall(r"```python\n(.*?)```", DOC, flags=re.DOTALL)]


def _runnable() -> list[str]:
    return [block for block in _blocks() if not block.startswith(MODELS_MARKER) and ASYNC_VIEW_MARKER not in block]


def test_the_page_has_the_snippets_this_test_expects() -> None:
    blocks = _blocks()
    assert sum(block.startswith(MODELS_MARKER) for block in blocks) == 1
    assert sum(ASYNC_VIEW_MARKER in block for block in blocks) == 1
    assert len(_runnable()) >= 8


@pytest.mark.django_db
def test_every_snippet_runs_in_order() -> None:
    namespace: dict[str, Any] = {}
    for index, block in enumerate(_runnable()):
        try:
            exec(compile(block, f"docs/data-layer.md#block{index}", "exec"), namespace)
        except Exception as error:  # pragma: no cover - the message is the point when it fails
            raise AssertionError(f"snippet {index} failed:\n{block}") from error


def test_the_model_listing_is_the_test_apps_source() -> None:
    (listing,) = [block for block in _blocks() if block.startswith(MODELS_MARKER)]
    for chunk in re.split(r"\n(?=class )", listing.split("\n", 1)[1]):
        name = re.match(r"class (\w+)", chunk.strip())
        assert name is not None, chunk
        source = [line.rstrip() for line in inspect.getsource(getattr(testapp_models, name.group(1))).splitlines()]
        shown = [line.rstrip() for line in chunk.strip().splitlines() if line.strip() not in ("", "...")]
        remaining = iter(source)
        missing = [line for line in shown if not any(line == candidate for candidate in remaining)]
        assert missing == [], f"{name.group(1)}: lines not in tests/testapp/models.py (or out of order): {missing}"


def _async_view(*, await_user: bool) -> Any:
    (block,) = [block for block in _blocks() if ASYNC_VIEW_MARKER in block]
    if not await_user:
        block = "\n".join(line for line in block.splitlines() if "await request.auser()" not in line)
    from apps.core.context import current_actor

    namespace: dict[str, Any] = {"__name__": "docs_data_layer", "current_actor": current_actor}
    exec(block, namespace)
    return namespace["whoami"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("await_user", "expected"), [(True, "admin:erin"), (False, None)])
def test_the_async_view_sees_the_actor_only_after_awaiting_the_user(
    settings: SettingsWrapper, await_user: bool, expected: str | None
) -> None:
    class Urls:
        urlpatterns = [path("whoami/", _async_view(await_user=await_user))]

    settings.ROOT_URLCONF = Urls
    user = User.objects.create_user(username="erin")

    async def call() -> Any:
        client = AsyncClient()
        await client.aforce_login(user)
        return await client.get("/whoami/")

    response = async_to_sync(call)()
    assert response.status_code == 200
    assert response.json() == {"actor": expected}


def _documented_check_ids() -> set[str]:
    return set(re.findall(r"^\| `(core\.W\d{3})` \|", DOC, flags=re.MULTILINE))


@isolate_apps("tests.testapp")
def test_each_documented_check_id_is_raised_for_what_the_table_says() -> None:
    class UniqueField(SoftDeleteMixin):
        code = models.CharField(max_length=10, unique=True)

        class Meta:
            app_label = "testapp"

    class UniqueTogether(SoftDeleteMixin):
        a = models.IntegerField()
        b = models.IntegerField()

        class Meta:
            app_label = "testapp"
            unique_together = [("a", "b")]

    class TotalConstraint(SoftDeleteMixin):
        code = models.CharField(max_length=10)

        class Meta:
            app_label = "testapp"
            constraints = [models.UniqueConstraint(fields=["code"], name="total_code_unique")]

    class ShowsDeletedByDefault(SoftDeleteMixin):
        everything = AllObjectsManager()

        class Meta:
            app_label = "testapp"
            default_manager_name = "everything"

    def ids(model: type[models.Model]) -> list[str]:
        return [str(message.id) for message in soft_delete_model_messages(model)]

    raised = {
        "core.W001": ids(UniqueField),
        "core.W002": ids(UniqueTogether),
        "core.W003": ids(TotalConstraint),
        "core.W004": ids(ShowsDeletedByDefault),
    }
    assert raised == {check_id: [check_id] for check_id in raised}
    assert _documented_check_ids() == set(raised)
    assert ids(testapp_models.Folder) == [], "unique_for_alive_rows raises nothing"
