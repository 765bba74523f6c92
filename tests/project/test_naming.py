"""Every name the service shows the world is derived from SERVICE_NAME (project/naming.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from project.environment import ConfigurationError, EnvReader
from project.naming import DEFAULT_NAME, service_names
from tests.processes import ROOT

# A literal that names the template's service: the bare name, or the name as a prefix of a
# queue, exchange, metric or cache location.
NAMED = re.compile(rf"^{re.escape(DEFAULT_NAME)}(?:$|[._:-]\w)")


def _string_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_no_code_hard_codes_the_service_name() -> None:
    sources = [*(ROOT / "apps").rglob("*.py"), *(ROOT / "project").glob("*.py")]
    found = [
        f"{path.relative_to(ROOT)}:{line}: {value!r}"
        for path in sources
        if path.name != "naming.py"
        for line, value in _string_literals(path)
        if NAMED.match(value)
    ]
    assert found == []


def test_the_scan_would_see_a_hard_coded_name(tmp_path: Path) -> None:
    planted = tmp_path / "metrics.py"
    planted.write_text(f'"""Docstring about {DEFAULT_NAME}_x is fine."""\nX = "{DEFAULT_NAME}_cache_hits_total"\n')
    assert _string_literals(planted) == [(2, f"{DEFAULT_NAME}_cache_hits_total")]


def test_every_name_is_derived_from_the_service_name() -> None:
    names = service_names(EnvReader({"SERVICE_NAME": "billing_core"}))
    assert (names.events_queue, names.tasks_queue) == ("billing_core.events", "billing_core.tasks")
    assert (names.dead_letter_exchange, names.dead_letter_queue) == ("billing_core.dead-letters",) * 2
    assert (names.control_exchange, names.event_exchange) == ("billing_core", "billing_core.celeryev")
    assert (names.cache_prefix, names.metrics_namespace, names.database) == ("billing_core",) * 3
    assert names.api_title == "Billing Core API"
    assert service_names(EnvReader({})).name == DEFAULT_NAME


@pytest.mark.parametrize("bad", ["Billing", "billing-core", "9lives", "b", "billing.core", "x" * 42])
def test_a_bad_service_name_is_one_line_naming_the_variable(bad: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        service_names(EnvReader({"SERVICE_NAME": bad}))
    assert raised.value.variable == "SERVICE_NAME"
    assert "\n" not in str(raised.value)
    assert str(raised.value).startswith("SERVICE_NAME: must be lowercase")


def test_metric_names_carry_the_namespace() -> None:
    from apps.caching.metrics import HITS

    assert HITS._name == f"{service_names().metrics_namespace}_cache_hits"


def test_two_services_on_one_vhost_do_not_consume_each_others_messages(broker_url: str) -> None:
    """Real RabbitMQ, one vhost: each service's events and tasks land only in its own queues."""
    import uuid

    from kombu import Connection

    from apps.events.topology import dead_lettered_queue
    from tests.broker_channel import amqp_channel, queue_depth

    suffix = uuid.uuid4().hex[:8]
    alpha, beta = (service_names(EnvReader({"SERVICE_NAME": f"{n}_{suffix}"})) for n in ("alpha", "beta"))
    queues = {
        names.name: [
            dead_lettered_queue(
                queue,
                dead_letter_exchange=names.dead_letter_exchange,
                dead_letter_routing_key=names.dead_letter_queue,
            )
            for queue in (names.events_queue, names.tasks_queue)
        ]
        for names in (alpha, beta)
    }
    # Confirmed publishes: each message is in its queue before the depth is read.
    with Connection(broker_url, transport_options={"confirm_publish": True}) as connection:
        channel = connection.default_channel
        try:
            for declared in queues.values():
                for queue in declared:
                    queue(channel).declare()
            producer = connection.Producer(channel)
            for queue in queues[alpha.name]:
                producer.publish({"for": alpha.name}, exchange=queue.exchange, routing_key=queue.routing_key)
            assert [queue_depth(channel, q.name) for q in queues[alpha.name]] == [1, 1]
            assert [queue_depth(channel, q.name) for q in queues[beta.name]] == [0, 0]
            assert {alpha.control_exchange, alpha.event_exchange}.isdisjoint(
                {beta.control_exchange, beta.event_exchange}
            )
        finally:
            for declared in queues.values():
                for queue in declared:
                    amqp_channel(channel).queue_delete(queue.name)
                    amqp_channel(channel).exchange_delete(queue.name)
