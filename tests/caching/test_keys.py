"""`cache_key`: arguments of different types never share an entry; keys are short and the same in every process."""

from __future__ import annotations

import datetime
import decimal
import subprocess
import sys
import uuid

import pytest

from apps.caching import cache_key, cached
from apps.caching.keys import key_part
from tests.caching.test_docs_example import DOC, snippet
from tests.processes import ROOT, clean_env

pytestmark = pytest.mark.usefixtures("namespace")

# Each pair is equal or looks alike once turned into text, and must still be two entries.
LOOK_ALIKES = [
    (2, "2"),
    (True, "True"),
    (True, 1),
    (False, 0),
    (None, "None"),
    (1.0, 1),
    (decimal.Decimal("1"), 1),
    (b"x", "x"),
    ((1, 2), [1, 2]),
    ({1, 2}, frozenset({1, 2})),
    ({"a": 1}, [["a", 1]]),
    ([1, "1"], [1, 1]),
    ({"1": 1}, {1: 1}),
    (uuid.UUID(int=7), str(uuid.UUID(int=7))),
    (datetime.date(2024, 5, 1), "2024-05-01"),
    ("~s2", "2"),
    ("", None),
    ("a" * 65, "a" * 64),
]


@pytest.mark.parametrize(("first", "second"), LOOK_ALIKES, ids=repr)
def test_look_alike_arguments_are_different_entries(first: object, second: object) -> None:
    calls: list[object] = []

    @cached(key_prefix="alike", ttl=60)
    def echo(value: object) -> str:
        calls.append(value)
        return repr(value)

    assert cache_key("alike", first) != cache_key("alike", second)
    assert (echo(first), echo(second)) == (repr(first), repr(second))
    assert (echo(first), echo(second)) == (repr(first), repr(second))  # both hits now, each its own
    assert len(calls) == 2


def test_a_keyword_is_its_own_segment_and_a_positional_string_cannot_forge_it() -> None:
    assert cache_key("doc", 1, page=2) == "doc:1:page=2"
    assert cache_key("doc", 1, "page=2") != cache_key("doc", 1, page=2)
    assert cache_key("doc", "1:page=2") != cache_key("doc", 1, page=2)


def test_keys_stay_readable_and_short() -> None:
    assert cache_key("document", 42) == "document:42"
    assert cache_key("report", "weekly", page=-1) == "report:weekly:page=-1"
    assert key_part("2") == "~s2"
    assert key_part(None) == "~N"
    assert key_part(1.5) == "~f1.5"
    assert key_part(uuid.UUID(int=7)) == "~u00000000-0000-0000-0000-000000000007"
    assert max(len(key_part(value)) for pair in LOOK_ALIKES for value in pair) <= 64


def test_unsupported_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="key_builder"):
        cache_key("doc", object())


def test_keys_are_the_same_in_every_process() -> None:
    # Sets and dicts of strings iterate in an order that depends on PYTHONHASHSEED.
    script = (
        "import django; django.setup(); from apps.caching.keys import key_part; "
        "print(key_part({'alpha', 'beta', 'gamma'}), key_part({'b': {'y', 'x'}, 'a': (1, 'z')}))"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = clean_env(PYTHONHASHSEED=seed, DJANGO_SETTINGS_MODULE="project.settings")
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, check=True
        )
        outputs.add(result.stdout.strip())
    here = f"{key_part({'alpha', 'beta', 'gamma'})} {key_part({'b': {'y', 'x'}, 'a': (1, 'z')})}"
    assert outputs == {here}


def test_the_documented_key_rules() -> None:
    exec(compile(snippet("key-rules"), str(DOC), "exec"), {})
