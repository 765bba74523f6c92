"""ACL matching: the platform's edge cases, and properties against an independent matcher."""

from __future__ import annotations

import random
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.accent_auth.acl import AccessCheck, fill_required_acl

USER = "3f2c9a1e-0000-4000-9000-000000000001"
SESSION = "5b7d1c2e-0000-4000-9000-000000000002"


def allows(acl: list[str], required: str | None, auth_id: str | None = USER, session: str | None = SESSION) -> bool:
    return AccessCheck(auth_id, session, acl).matches_required_access(required)


# --- Examples: the edge cases the platform is known for ----------------------------


def test_no_required_acl_means_a_valid_token_is_enough() -> None:
    assert allows([], None)
    assert allows(["!#"], None)


def test_an_empty_acl_grants_nothing() -> None:
    assert not allows([], "documents.read")


def test_a_literal_pattern_matches_only_itself() -> None:
    assert allows(["documents.read"], "documents.read")
    assert not allows(["documents.read"], "documents.reader")
    assert not allows(["documents.read"], "xdocuments.read")


def test_star_matches_exactly_one_segment_which_may_be_empty() -> None:
    assert allows(["documents.*.read"], "documents.42.read")
    assert allows(["documents.*.read"], "documents..read")
    assert not allows(["documents.*.read"], "documents.4.2.read")
    assert not allows(["documents.*.read"], "documents.read")


def test_star_inside_a_segment_stays_in_that_segment() -> None:
    assert allows(["documents.4*.read"], "documents.42.read")
    assert not allows(["documents.4*.read"], "documents.42.x.read")


def test_hash_matches_one_or_more_segments_but_needs_the_literal_dot() -> None:
    assert allows(["foo.#"], "foo.bar")
    assert allows(["foo.#"], "foo.bar.baz.qux")
    assert not allows(["foo.#"], "foo")
    assert not allows(["foo.#"], "foobar")
    # The reference regex turns `#` into `.*?`: an empty trailing segment matches too.
    assert allows(["foo.#"], "foo.")


def test_a_lone_hash_matches_everything() -> None:
    assert allows(["#"], "documents.42.read")
    assert allows(["#"], "x")
    assert allows(["#"], "")


def test_hash_in_the_middle() -> None:
    assert allows(["documents.#.read"], "documents.42.read")
    assert allows(["documents.#.read"], "documents.42.files.7.read")
    assert not allows(["documents.#.read"], "documents.read")


@pytest.mark.parametrize("acl", [["!documents.7.read", "documents.*.read"], ["documents.*.read", "!documents.7.read"]])
def test_a_negative_entry_wins_wherever_it_sits(acl: list[str]) -> None:
    assert not allows(acl, "documents.7.read")
    assert allows(acl, "documents.8.read")


def test_a_negative_entry_alone_grants_nothing() -> None:
    assert not allows(["!documents.7.read"], "documents.8.read")


def test_negative_wildcards() -> None:
    acl = ["#", "!documents.*.delete", "!admin.#"]
    assert allows(acl, "documents.1.read")
    assert not allows(acl, "documents.1.delete")
    assert not allows(acl, "admin.users.list")


def test_me_matches_me_or_the_tokens_auth_id() -> None:
    assert allows(["users.me.read"], f"users.{USER}.read")
    assert allows(["users.me.read"], "users.me.read")
    assert not allows(["users.me.read"], "users.someone-else.read")


def test_me_is_substituted_at_the_start_the_end_and_in_the_middle() -> None:
    assert allows(["me.documents"], f"{USER}.documents")
    assert allows(["users.me"], f"users.{USER}")
    assert allows(["users.me.#"], f"users.{USER}.lines.1")


def test_me_is_substituted_only_as_a_whole_segment() -> None:
    assert not allows(["users.meh.read"], f"users.{USER}h.read")
    assert not allows(["users.xme.read"], f"users.x{USER}.read")
    assert allows(["users.meh.read"], "users.meh.read")


def test_me_without_an_auth_id_is_just_the_word() -> None:
    assert allows(["users.me.read"], "users.me.read", auth_id=None)
    assert not allows(["users.me.read"], "users..read", auth_id=None)


def test_negative_me() -> None:
    assert not allows(["users.*.read", "!users.me.read"], f"users.{USER}.read")
    assert allows(["users.*.read", "!users.me.read"], "users.other.read")


def test_my_session_matches_my_session_or_the_tokens_session() -> None:
    assert allows(["sessions.my_session.delete"], f"sessions.{SESSION}.delete")
    assert allows(["sessions.my_session.delete"], "sessions.my_session.delete")
    assert not allows(["sessions.my_session.delete"], f"sessions.{USER}.delete")


def test_wildcards_in_the_required_acl_are_literal() -> None:
    assert not allows(["documents.42.read"], "documents.*.read")
    assert not allows(["documents.42.read"], "documents.#")
    assert allows(["documents.*.read"], "documents.*.read")  # `*` is just a character here
    assert not allows(["documents.*.read"], "documents.#.read")  # a one-segment wildcard never spans `#`


def test_values_are_escaped_not_interpreted() -> None:
    assert not allows(["a+b.read"], "aab.read")
    assert not allows(["a.(b|c)"], "a.b")
    assert allows(["a.(b|c)"], "a.(b|c)")
    assert not allows(["users.me.read"], "users.anything.read", auth_id="(.*)")
    assert allows(["users.me.read"], "users.(.*).read", auth_id="(.*)")
    assert not allows(["users.me.read"], "users.uxd.read", auth_id="u.d")


def test_access_check_keeps_its_inputs() -> None:
    check = AccessCheck(USER, SESSION, ["a.b", "!c"])
    assert check.acl == ("a.b", "!c")
    assert check.auth_id == USER
    assert "a.b" in repr(check)


def test_fill_required_acl_replaces_dots_in_values() -> None:
    assert fill_required_acl("documents.{pk}.read", {"pk": 42}) == "documents.42.read"
    assert fill_required_acl("files.{name}.read", {"name": "report.v2.pdf"}) == "files.report_v2_pdf.read"
    with pytest.raises(KeyError):
        fill_required_acl("documents.{pk}.read", {})


# --- Properties against an independent matcher --------------------------------------


def oracle(acl: list[str], required: str | None, auth_id: str | None, session: str | None) -> bool:
    """A character-level backtracking matcher written from the contract, not from the regex."""
    if required is None:
        return True

    def tokens(pattern: str) -> tuple[tuple[str, ...], ...]:
        out: list[tuple[str, ...]] = []
        for index, segment in enumerate(pattern.split(".")):
            if index:
                out.append(("lit", "."))
            if segment == "me" and auth_id:
                out.append(("alt", "me", auth_id))
            elif segment == "my_session" and session:
                out.append(("alt", "my_session", session))
            else:
                out.extend(("star",) if c == "*" else ("hash",) if c == "#" else ("lit", c) for c in segment)
        return tuple(out)

    def matches(pattern: str) -> bool:
        toks = tokens(pattern)

        @cache
        def at(i: int, j: int) -> bool:
            if i == len(toks):
                return j == len(required)
            kind = toks[i][0]
            if kind == "lit":
                return j < len(required) and required[j] == toks[i][1] and at(i + 1, j + 1)
            if kind == "alt":
                return any(required.startswith(word, j) and at(i + 1, j + len(word)) for word in toks[i][1:])
            if kind == "star":
                k = j
                while True:
                    if at(i + 1, k):
                        return True
                    if k == len(required) or required[k] in ".#":
                        return False
                    k += 1
            return any(at(i + 1, k) for k in range(j, len(required) + 1))  # hash

        return at(0, 0)

    if any(matches(p[1:]) for p in acl if p.startswith("!")):
        return False
    return any(matches(p) for p in acl if not p.startswith("!"))


PATTERN_SEGMENTS = st.sampled_from(["a", "b", "ab", "me", "my_session", "*", "#", "a*", "*b", "a#", "", "x.y"])
REQUIRED_SEGMENTS = st.sampled_from(["a", "b", "ab", "me", "my_session", "U", "S", "", "*", "#", "u.d", "(x)", "aab"])
AUTH_IDS = st.sampled_from([None, "U", "u.d", "(x)", "a*"])
SESSIONS = st.sampled_from([None, "S", "ab"])

patterns = st.builds(
    lambda negative, segments: ("!" if negative else "") + ".".join(segments),
    st.booleans(),
    st.lists(PATTERN_SEGMENTS, min_size=1, max_size=4),
)
required_acls = st.lists(REQUIRED_SEGMENTS, min_size=1, max_size=5).map(".".join)


@settings(max_examples=400, deadline=None)
@given(st.lists(patterns, max_size=5), required_acls, AUTH_IDS, SESSIONS)
def test_matches_the_independent_matcher(
    acl: list[str], required: str, auth_id: str | None, session: str | None
) -> None:
    assert allows(acl, required, auth_id, session) == oracle(acl, required, auth_id, session)


@settings(max_examples=200, deadline=None)
@given(st.lists(patterns, min_size=1, max_size=6), required_acls, st.randoms(use_true_random=False))
def test_the_order_of_the_patterns_does_not_matter(acl: list[str], required: str, rng: random.Random) -> None:
    shuffled = list(acl)
    rng.shuffle(shuffled)
    assert allows(acl, required) == allows(shuffled, required)


@settings(max_examples=200, deadline=None)
@given(st.lists(patterns, max_size=5), required_acls)
def test_a_matching_negative_pattern_always_refuses(acl: list[str], required: str) -> None:
    literal = required.replace("*", "x").replace("#", "x")
    assert not allows([*acl, "#", f"!{literal}"], literal)


@settings(max_examples=200, deadline=None)
@given(required_acls)
def test_a_lone_hash_grants_any_required_acl(required: str) -> None:
    assert allows(["#"], required)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "ab", "x_y", "42"]), min_size=1, max_size=5).map(".".join), required_acls)
def test_a_pattern_without_wildcards_or_substitutions_matches_only_itself(pattern: str, required: str) -> None:
    assert allows([pattern], required) == (pattern == required)
