"""Bring an existing feedback store up to the current schema, in place, at start (SQLite and PostgreSQL).

Only additive steps, each safe to run again: new tables, new nullable columns, new indexes, plus three one-time
data fixes for stores written by earlier versions, whose labels could be wrong (see README "What is stored"):
- the old append-only ``ratings`` table is folded into ``messages.rating`` (the last click per message wins, which
  is what the screen showed);
- corrections recorded by the old keyword-triggered flow are kept but marked ``legacy-<source>``, so
  ``export --labelled`` no longer takes them as a customer's word;
- conversations with several open tickets keep the oldest open; the others become ``merged``.
"""

from __future__ import annotations

from sqlalchemy import Engine, MetaData, inspect, text

LEGACY_SOURCES = ("clarification", "customer", "api")


def upgrade(engine: Engine, metadata: MetaData) -> None:
    inspector = inspect(engine)
    existing = set(inspector.get_table_names())
    metadata.create_all(engine, checkfirst=True)     # new tables (and their indexes) only
    added: dict[str, set[str]] = {}
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if table.name not in existing:
                continue
            have = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in have:
                    kind = column.type.compile(dialect=engine.dialect)
                    conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
                    added.setdefault(table.name, set()).add(column.name)
        if "ratings" in existing and "rating" in added.get("messages", set()):
            conn.execute(text(
                "UPDATE messages SET rating = (SELECT r.value FROM ratings r WHERE r.message_id = messages.id "
                "ORDER BY r.id DESC LIMIT 1) WHERE id IN (SELECT message_id FROM ratings)"))
        if "corrections" in existing:
            legacy = ", ".join(f"'{s}'" for s in LEGACY_SOURCES)
            conn.execute(text(f"UPDATE corrections SET source = 'legacy-' || source WHERE source IN ({legacy})"))
        if "tickets" in existing:
            conn.execute(text(
                "UPDATE tickets SET status = 'merged' WHERE status = 'open' AND id NOT IN (SELECT t.id FROM tickets t "
                "WHERE t.status = 'open' AND t.created_at = (SELECT MIN(t2.created_at) FROM tickets t2 "
                "WHERE t2.conversation_id = t.conversation_id AND t2.status = 'open'))"))
    for table in metadata.sorted_tables:
        if table.name in existing:
            have = {i["name"] for i in inspect(engine).get_indexes(table.name)}
            for index in table.indexes:
                if index.name not in have:
                    index.create(engine, checkfirst=True)
