"""The management commands, run in-process (the local-memory store is per process) on this run's backend."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.caching import cached
from tests.caching.conftest import redis_cache_settings
from tests.processes import clean_env, free_port, manage

pytestmark = pytest.mark.usefixtures("namespace")


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def entries(namespace: str) -> list[int]:
    calls: list[int] = []

    @cached(key_prefix="cmd", ttl=60, tags=lambda n: [f"cmd:{n}", "cmd:all"])
    def value(n: int) -> int:
        calls.append(n)
        return n

    for n in range(4):
        value(n)
    return calls


@pytest.mark.usefixtures("entries")
def test_invalidate_cache_dry_run_reports_and_keeps_everything() -> None:
    output = run(
        "invalidate_cache", "--tag", "cmd:all", "--key", "cmd:1", "--pattern", "cmd:[23]", "--dry-run", "-v", "2"
    )
    assert "key cmd:1: would remove 1" in output
    assert "tag cmd:all: would remove 4" in output
    assert "pattern cmd:[23]: would remove 2" in output
    assert "  cmd:3" in output
    assert "total: would remove 7 entries" in output
    assert "tag cmd:all: would remove 4" in run("invalidate_cache", "--tag", "cmd:all", "--dry-run")


@pytest.mark.usefixtures("entries")
def test_invalidate_cache_removes_and_says_what() -> None:
    output = run("invalidate_cache", "--key", "cmd:0", "--tag", "cmd:1", "--tag", "cmd:2", "--pattern", "cmd:*")
    assert output.splitlines() == [
        "key cmd:0: removed 1",
        "tag cmd:1: removed 1",
        "tag cmd:2: removed 1",
        "pattern cmd:*: removed 1",
        output.splitlines()[-1],
    ]
    assert output.splitlines()[-1].startswith("total: removed 4 entries")
    assert "total: removed 0 entries" in run("invalidate_cache", "--tag", "cmd:all")


def test_invalidate_cache_needs_a_selector() -> None:
    with pytest.raises(CommandError, match="at least one"):
        run("invalidate_cache")


@pytest.mark.usefixtures("entries")
def test_cache_stats_counts_entries_and_tags() -> None:
    output = run("cache_stats")
    assert "entries: 4" in output
    assert "tag_sets: 5" in output
    assert "tag_members: 8" in output


@pytest.mark.django_db(transaction=True)  # it also replays missed invalidations (none here)
@pytest.mark.usefixtures("entries")
def test_prune_cache_tags_reports_its_work() -> None:
    output = run("prune_cache_tags")
    assert output.startswith("pruned 0 expired member(s) from 5 tag set(s)")


@pytest.mark.parametrize("selector", [["--key", "cmd:1"], ["--tag", "cmd:all"], ["--pattern", "cmd:*"]])
@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_invalidate_cache_fails_loudly_when_redis_is_unreachable(
    settings: SettingsWrapper, namespace: str, selector: list[str], dry_run: list[str]
) -> None:
    settings.CACHES = redis_cache_settings(f"redis://127.0.0.1:{free_port()}/0", namespace)
    with pytest.raises(CommandError, match=r"^the cache is unavailable, \w+ cmd:\S+ not invalidated: .*refused"):
        run("invalidate_cache", *selector, *dry_run)


def test_invalidate_cache_exits_non_zero_with_one_line_when_redis_is_unreachable() -> None:
    env = clean_env(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", REDIS_CONNECT_TIMEOUT="0.5")
    result = manage("invalidate_cache", "--tag", "documents:all", env=env)
    assert result.returncode != 0
    assert result.stdout == ""
    line = result.stderr.strip().splitlines()[-1]  # after the outage's one warning log line
    assert line.startswith("CommandError: the cache is unavailable, tag documents:all not invalidated:")
    sibling = manage("prune_cache_tags", env=env)
    assert sibling.returncode == result.returncode
    assert sibling.stderr.strip().splitlines()[-1].startswith("CommandError: the cache is unavailable")
