"""The checks, one module per topic; each module owns every implementation of its ids.

A topic module opens with ``TOPIC = Topic.beside(__file__)``, reading the
catalogue of the ids it owns from the TOML file beside it (``enums.toml`` for
``enums.py``: dimension, default severity, effort, evidence, title,
rationale, remediation, severity rule), and then implements them, one
function per kind of evidence (schema, live, code, code joined with the
schema). To add a check: add its table to the topic it belongs to (or a new
module and TOML file, listed in ``TOPICS`` below) and decorate its function
with ``@TOPIC.implements``; it receives the code facts, the schema, or both.

Helpers shared by several topics live in ``schema_facts``, ``code_facts``
and ``probe_facts``; word lists and name predicates shared with the sources
live in :mod:`audits.engine.vocabulary`. Check ids are a public contract
(exports, SARIF and fingerprints key on them): add freely, never rename.
"""

from __future__ import annotations

from . import (
    activity,
    columns,
    connections,
    constraints,
    enums,
    foreign_keys,
    growth,
    indexes,
    injection,
    keys,
    loops,
    migration_safety,
    migrations,
    operations,
    orm,
    plans,
    secrets,
    sqlite_pragmas,
    tenancy,
    timestamps,
    transactions,
    upkeep,
)
from .base import Topic

# Every topic module, in the order their checks run.
TOPICS: tuple[Topic, ...] = (
    keys.TOPIC,
    foreign_keys.TOPIC,
    enums.TOPIC,
    constraints.TOPIC,
    timestamps.TOPIC,
    columns.TOPIC,
    secrets.TOPIC,
    tenancy.TOPIC,
    indexes.TOPIC,
    sqlite_pragmas.TOPIC,
    transactions.TOPIC,
    loops.TOPIC,
    growth.TOPIC,
    connections.TOPIC,
    operations.TOPIC,
    activity.TOPIC,
    upkeep.TOPIC,
    migrations.TOPIC,
    migration_safety.TOPIC,
    injection.TOPIC,
    orm.TOPIC,
    plans.TOPIC,
)
