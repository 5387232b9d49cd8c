"""The Neo4j schema: constraints, range indexes and the full-text index (all idempotent).

Graph shape:
  (:Agent)-[:WROTE {at}]->(:Memory|:Entity)       provenance (who wrote what, when)
  (:Memory)-[:ON_BEHALF_OF]->(:Agent)              the human (or agent) it was done for
  (:Memory)-[:PART_OF]->(:Workflow)                correlation id
  (:Memory)-[:MENTIONS]->(:Entity)                 memories linked to their entities
  (:Memory)-[:SUPERSEDES]->(:Memory)               correction history
  (:Entity)-[:RELATES {relation_type, valid_from, valid_to, ...}]->(:Entity)
  (:BufferSession)-[:HOLDS]->(:BufferItem)         short-term buffers
  (:AuditEvent)-[:PREV]->(:AuditEvent), (:AuditHead) the hash chain and its head
  (:Idempotency)                                   first responses to keyed requests
  (:IdempotencyClaim)                              a keyed request running now (a lease)
  (:JobSlot)                                       one claim per scheduled GC run
  (:Conflict)-[:DISPUTES {side}]->(:Memory)        two agents' incompatible facts
  (:NamespaceDocs {namespace, docs, version})      memories per namespace (any status),
                                                   the keyword search's BM25 statistic,
                                                   and its keyword version (a new
                                                   random value at every write that
                                                   changes what the search reads)
Relation types are a property of the one fixed relationship type RELATES, so no user text
ever becomes a Cypher identifier.
"""

from __future__ import annotations

FULLTEXT_INDEX = "fleetmem_memory_search"
"""Text and keyword context (issue 18); replaces `fleetmem_memory_text` (text only),
which a database made before it keeps, unused."""
MENTIONS_INDEX = "fleetmem_memory_mentions"
"""The lower-cased names each memory mentions (`m.mentions`), each list element one exact
term (keyword analyzer): the memories to link when an entity of that name is created."""

FILL_KEYWORD_LENGTH = [
    """
    OPTIONAL MATCH (s:SchemaStep {id: 'keyword_length'}) WITH s WHERE s IS NULL
    MATCH (m:Memory) WHERE m.keyword_length IS NULL
    CALL (m) {
        SET m.keyword_length = size(m.text) + size(coalesce(m.keyword_context, ''))
    } IN TRANSACTIONS OF 10000 ROWS
    """,
    # the lengths changed what the keyword search reads: matches cached by a replica
    # before this start are stale
    """
    OPTIONAL MATCH (s:SchemaStep {id: 'keyword_length'}) WITH s WHERE s IS NULL
    MATCH (d:NamespaceDocs) SET d.version = randomUUID()
    """,
    "MERGE (s:SchemaStep {id: 'keyword_length'})",
]
"""Stores every memory's BM25 length once, for a database made before every write stored
it (auto-commit, 10,000 memories a transaction, then the `:SchemaStep` marker, so a later
start reads no memory): the keyword statement then reads `keyword_length` alone (reading
the text and the keyword context of each posting to compute it cost a quarter of the
statement)."""

STATEMENTS: list[str] = [
    # uniqueness (each also creates a range index)
    "CREATE CONSTRAINT fleetmem_memory_id IF NOT EXISTS "
    "FOR (m:Memory) REQUIRE m.id IS UNIQUE",
    "CREATE CONSTRAINT fleetmem_entity_id IF NOT EXISTS "
    "FOR (e:Entity) REQUIRE e.id IS UNIQUE",
    "CREATE CONSTRAINT fleetmem_entity_name IF NOT EXISTS "
    "FOR (e:Entity) REQUIRE (e.namespace, e.name_lower) IS UNIQUE",
    "CREATE CONSTRAINT fleetmem_relation_id IF NOT EXISTS "
    "FOR ()-[r:RELATES]-() REQUIRE r.id IS UNIQUE",
    "CREATE CONSTRAINT fleetmem_agent_id IF NOT EXISTS "
    "FOR (a:Agent) REQUIRE a.id IS UNIQUE",
    "CREATE CONSTRAINT fleetmem_workflow_id IF NOT EXISTS "
    "FOR (w:Workflow) REQUIRE w.id IS UNIQUE",
    "CREATE CONSTRAINT fleetmem_buffer_id IF NOT EXISTS "
    "FOR (b:BufferItem) REQUIRE b.id IS UNIQUE",
    "CREATE CONSTRAINT fleetmem_buffer_session IF NOT EXISTS "
    "FOR (s:BufferSession) REQUIRE (s.agent_id, s.session_id) IS UNIQUE",
    "CREATE CONSTRAINT fleetmem_audit_seq IF NOT EXISTS "
    "FOR (a:AuditEvent) REQUIRE a.seq IS UNIQUE",
    "CREATE CONSTRAINT fleetmem_audit_head IF NOT EXISTS "
    "FOR (h:AuditHead) REQUIRE h.id IS UNIQUE",
    "CREATE CONSTRAINT fleetmem_idempotency IF NOT EXISTS "
    "FOR (i:Idempotency) REQUIRE (i.agent_id, i.key) IS UNIQUE",
    "CREATE CONSTRAINT fleetmem_idempotency_claim IF NOT EXISTS "
    "FOR (c:IdempotencyClaim) REQUIRE (c.agent_id, c.key) IS UNIQUE",
    "CREATE CONSTRAINT fleetmem_job_slot IF NOT EXISTS "
    "FOR (j:JobSlot) REQUIRE (j.job, j.slot_key) IS UNIQUE",
    "CREATE CONSTRAINT fleetmem_conflict_id IF NOT EXISTS "
    "FOR (c:Conflict) REQUIRE c.id IS UNIQUE",
    "CREATE CONSTRAINT fleetmem_conflict_pair IF NOT EXISTS "
    "FOR (p:ConflictPair) REQUIRE p.key IS UNIQUE",
    "CREATE CONSTRAINT fleetmem_namespace_docs IF NOT EXISTS "
    "FOR (d:NamespaceDocs) REQUIRE d.namespace IS UNIQUE",
    # range indexes for the filters the port uses
    "CREATE INDEX fleetmem_memory_ns_status IF NOT EXISTS "
    "FOR (m:Memory) ON (m.namespace, m.status)",
    "CREATE INDEX fleetmem_memory_hash IF NOT EXISTS FOR (m:Memory) ON (m.content_hash)",
    "CREATE INDEX fleetmem_memory_supersedes IF NOT EXISTS FOR (m:Memory) ON (m.supersedes)",
    "CREATE INDEX fleetmem_memory_status IF NOT EXISTS FOR (m:Memory) ON (m.status)",
    "CREATE INDEX fleetmem_memory_commit IF NOT EXISTS FOR (m:Memory) ON (m.commit_state)",
    "CREATE INDEX fleetmem_memory_created IF NOT EXISTS FOR (m:Memory) ON (m.created_at)",
    # a conversation's next turn (issue 18: recall's neighbours)
    "CREATE INDEX fleetmem_memory_previous IF NOT EXISTS FOR (m:Memory) ON (m.previous_id)",
    # a writer's newest memory in a namespace (`preceding_turn`), in index order: without
    # it the statement read and sorted every memory of the namespace (37 ms at 10k)
    "CREATE INDEX fleetmem_memory_writer_order IF NOT EXISTS "
    "FOR (m:Memory) ON (m.namespace, m.created_by, m.created_at)",
    "CREATE INDEX fleetmem_entity_ns IF NOT EXISTS FOR (e:Entity) ON (e.namespace)",
    "CREATE INDEX fleetmem_relation_ns IF NOT EXISTS FOR ()-[r:RELATES]-() ON (r.namespace)",
    "CREATE INDEX fleetmem_buffer_session_idx IF NOT EXISTS "
    "FOR (b:BufferItem) ON (b.agent_id, b.session_id)",
    "CREATE INDEX fleetmem_buffer_created IF NOT EXISTS FOR (b:BufferItem) ON (b.created_at)",
    "CREATE INDEX fleetmem_buffer_ns IF NOT EXISTS FOR (b:BufferItem) ON (b.namespace)",
    "CREATE INDEX fleetmem_audit_ns IF NOT EXISTS FOR (a:AuditEvent) ON (a.namespace)",
    "CREATE INDEX fleetmem_audit_agent IF NOT EXISTS FOR (a:AuditEvent) ON (a.agent_id)",
    "CREATE INDEX fleetmem_audit_workflow IF NOT EXISTS FOR (a:AuditEvent) ON (a.workflow_id)",
    "CREATE INDEX fleetmem_conflict_pair_key IF NOT EXISTS FOR (c:Conflict) ON (c.pair_key)",
    "CREATE INDEX fleetmem_conflict_ns IF NOT EXISTS FOR (c:Conflict) ON (c.namespace)",
    "CREATE INDEX fleetmem_conflict_a IF NOT EXISTS FOR (c:Conflict) ON (c.a_memory_id)",
    "CREATE INDEX fleetmem_conflict_b IF NOT EXISTS FOR (c:Conflict) ON (c.b_memory_id)",
    # keyword search: which memories hold a term, in the text or the keyword context
    # (English stemming like SQLite's porter FTS5); scored per namespace by the store
    f"CREATE FULLTEXT INDEX {FULLTEXT_INDEX} IF NOT EXISTS FOR (m:Memory) "
    "ON EACH [m.text, m.keyword_context] "
    "OPTIONS {indexConfig: {`fulltext.analyzer`: 'english'}}",
    f"CREATE FULLTEXT INDEX {MENTIONS_INDEX} IF NOT EXISTS FOR (m:Memory) "
    "ON EACH [m.mentions] OPTIONS {indexConfig: {`fulltext.analyzer`: 'keyword'}}",
    "CALL db.awaitIndexes(300)",
    *FILL_KEYWORD_LENGTH,
]

COUNT_NAMESPACE_DOCS = """
    OPTIONAL MATCH (d:NamespaceDocs) WITH count(d) AS have WHERE have = 0
    MATCH (m:Memory) WITH m.namespace AS ns, count(*) AS n
    MERGE (d:NamespaceDocs {namespace: ns}) SET d.docs = n
    """
"""Fills the per-namespace memory counts once, for a database made before them (every
write keeps them since)."""
