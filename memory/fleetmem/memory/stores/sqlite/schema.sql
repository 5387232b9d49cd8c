-- fleetmem embedded graph store (SQLite, WAL, FTS5). Times are UTC epoch seconds.
CREATE TABLE IF NOT EXISTS memories (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    text TEXT NOT NULL,
    kind TEXT NOT NULL,
    importance REAL NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    created_by TEXT NOT NULL,
    on_behalf_of TEXT,
    workflow_id TEXT,
    session_id TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    valid_from REAL NOT NULL,
    valid_to REAL,
    status TEXT NOT NULL,
    pinned INTEGER NOT NULL DEFAULT 0,
    access_count INTEGER NOT NULL DEFAULT 0,
    last_accessed_at REAL,
    supersedes TEXT,
    superseded_by TEXT,
    content_hash TEXT NOT NULL,
    commit_state TEXT NOT NULL,
    entity_names TEXT NOT NULL DEFAULT '[]',
    vector BLOB,
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS memories_ns_status ON memories(namespace, status, commit_state);
CREATE INDEX IF NOT EXISTS memories_hash ON memories(namespace, content_hash);
CREATE INDEX IF NOT EXISTS memories_pending ON memories(commit_state) WHERE commit_state = 'pending';
CREATE INDEX IF NOT EXISTS memories_created ON memories(created_at);

CREATE VIRTUAL TABLE IF NOT EXISTS memories_fts USING fts5(
    text, content='memories', content_rowid='rowid', tokenize='porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS memories_ai AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts(rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER IF NOT EXISTS memories_ad AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER IF NOT EXISTS memories_au AFTER UPDATE OF text ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    INSERT INTO memories_fts(rowid, text) VALUES (new.rowid, new.text);
END;

CREATE TABLE IF NOT EXISTS memory_mentions (
    memory_id TEXT NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
    namespace TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    PRIMARY KEY (memory_id, name_lower)
);
CREATE INDEX IF NOT EXISTS mentions_name ON memory_mentions(namespace, name_lower);

CREATE TABLE IF NOT EXISTS entities (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    aliases TEXT NOT NULL DEFAULT '[]',
    tags TEXT NOT NULL DEFAULT '[]',
    created_by TEXT NOT NULL,
    on_behalf_of TEXT,
    workflow_id TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (namespace, name_lower)
);

CREATE TABLE IF NOT EXISTS observations (
    entity_id TEXT NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    text TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (entity_id, text)
);

CREATE TABLE IF NOT EXISTS relations (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    from_name TEXT NOT NULL,
    to_name TEXT NOT NULL,
    from_lower TEXT NOT NULL,
    to_lower TEXT NOT NULL,
    relation_type TEXT NOT NULL,
    created_by TEXT NOT NULL,
    on_behalf_of TEXT,
    workflow_id TEXT,
    created_at REAL NOT NULL,
    valid_from REAL NOT NULL,
    valid_to REAL
);
CREATE INDEX IF NOT EXISTS relations_from ON relations(namespace, from_lower);
CREATE INDEX IF NOT EXISTS relations_to ON relations(namespace, to_lower);

CREATE TABLE IF NOT EXISTS buffer_items (
    id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    namespace TEXT NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at REAL NOT NULL,
    importance REAL NOT NULL,
    consolidated_into TEXT,
    workflow_id TEXT,
    on_behalf_of TEXT
);
CREATE INDEX IF NOT EXISTS buffer_session ON buffer_items(agent_id, session_id, created_at);

CREATE TABLE IF NOT EXISTS idempotency (
    agent_id TEXT NOT NULL,
    key TEXT NOT NULL,
    operation TEXT NOT NULL,
    response_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (agent_id, key)
);

CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    at_iso TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    outcome TEXT NOT NULL,
    namespace TEXT,
    target_ids TEXT NOT NULL DEFAULT '[]',
    on_behalf_of TEXT,
    workflow_id TEXT,
    detail TEXT NOT NULL DEFAULT '',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_ns ON audit(namespace, seq);

-- GC: finding facts whose successor exists, and one claim per scheduled job run.
CREATE INDEX IF NOT EXISTS memories_supersedes ON memories(supersedes)
    WHERE supersedes IS NOT NULL;
CREATE TABLE IF NOT EXISTS job_slots (
    job TEXT NOT NULL,
    slot_key TEXT NOT NULL,
    owner TEXT NOT NULL,
    claimed_at REAL NOT NULL,
    PRIMARY KEY (job, slot_key)
);

-- a keyed request running now: its lease, so a concurrent retry waits (one per key)
CREATE TABLE IF NOT EXISTS idempotency_claims (
    agent_id TEXT NOT NULL,
    key TEXT NOT NULL,
    holder TEXT NOT NULL,
    until REAL NOT NULL,
    PRIMARY KEY (agent_id, key)
);

-- governance: audit lookups by agent and workflow; conflicts between agents' facts
CREATE INDEX IF NOT EXISTS audit_agent ON audit(agent_id, seq);
CREATE INDEX IF NOT EXISTS audit_workflow ON audit(workflow_id, seq) WHERE workflow_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS conflicts (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    attribute TEXT NOT NULL,
    pair_key TEXT NOT NULL,
    a_claim TEXT NOT NULL,
    b_claim TEXT NOT NULL,
    a_memory_id TEXT,
    b_memory_id TEXT,
    created_at REAL NOT NULL,
    workflow_id TEXT,
    status TEXT NOT NULL,
    resolution TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS conflicts_open_pair ON conflicts(pair_key) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS conflicts_ns ON conflicts(namespace, status, created_at);
CREATE INDEX IF NOT EXISTS conflicts_a ON conflicts(a_memory_id);
CREATE INDEX IF NOT EXISTS conflicts_b ON conflicts(b_memory_id);

-- Entity names and aliases by their first word, so finding the entities a text names is
-- an index lookup per word of the text instead of a scan of every entity.
CREATE TABLE IF NOT EXISTS entity_terms (
    entity_id TEXT NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
    namespace TEXT NOT NULL,
    first_word TEXT NOT NULL,
    term TEXT NOT NULL,
    PRIMARY KEY (entity_id, term)
);
CREATE INDEX IF NOT EXISTS entity_terms_word ON entity_terms(namespace, first_word);

-- Issue 18: what the keyword search also matches for a memory and never shows (its
-- preceding turn, dates resolved from its event time), rowid = memories.rowid; and the
-- lookup of a writer's latest memory in a namespace (the next memory's preceding turn).
CREATE VIRTUAL TABLE IF NOT EXISTS memories_context_fts USING fts5(
    context, tokenize='porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS memories_context_ad AFTER DELETE ON memories BEGIN
    DELETE FROM memories_context_fts WHERE rowid = old.rowid;
END;
CREATE INDEX IF NOT EXISTS memories_writer ON memories(namespace, created_by, created_at);
-- Memories per namespace (every status), for the keyword search's BM25 statistics without
-- walking a namespace; filled once from the rows of a store made before it.
CREATE TABLE IF NOT EXISTS namespace_docs (
    namespace TEXT PRIMARY KEY,
    docs INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 0
);
INSERT OR IGNORE INTO namespace_docs (namespace, docs)
    SELECT namespace, count(*) FROM memories
    WHERE NOT EXISTS (SELECT 1 FROM namespace_docs) GROUP BY namespace;
CREATE TRIGGER IF NOT EXISTS memories_docs_ai AFTER INSERT ON memories BEGIN
    INSERT INTO namespace_docs (namespace, docs) VALUES (new.namespace, 1)
        ON CONFLICT (namespace) DO UPDATE SET docs = docs + 1;
END;
CREATE TRIGGER IF NOT EXISTS memories_docs_ad AFTER DELETE ON memories BEGIN
    UPDATE namespace_docs SET docs = docs - 1 WHERE namespace = old.namespace;
END;

-- Issue 22: the keyword search's per-document figures in a narrow table keyed by
-- memories.rowid (= the full-text tables' rowid): a term's matches are counted and
-- measured here instead of in `memories`, whose rows (text, vector) are ~2 KB each, so a
-- recall reads ~60-byte rows (37 -> 11 ms for the terms of one question at 10k memories).
-- Kept by triggers on `memories` and by the writes of `memories_context_fts` (context_len);
-- filled once from the rows of a store made before it (connection.py: the fill
-- scans `memories`, so it runs only when the table is empty and memories exist).
CREATE TABLE IF NOT EXISTS keyword_docs (
    doc INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    namespace TEXT NOT NULL,
    status TEXT NOT NULL,
    commit_state TEXT NOT NULL,
    text_len INTEGER NOT NULL,
    context_len INTEGER NOT NULL DEFAULT 0
);
CREATE TRIGGER IF NOT EXISTS keyword_docs_ai AFTER INSERT ON memories BEGIN
    INSERT OR REPLACE INTO keyword_docs (doc, id, namespace, status, commit_state, text_len)
        VALUES (new.rowid, new.id, new.namespace, new.status, new.commit_state,
                length(new.text));
END;
CREATE TRIGGER IF NOT EXISTS keyword_docs_au AFTER UPDATE OF id, namespace, status,
        commit_state, text ON memories BEGIN
    UPDATE keyword_docs SET id = new.id, namespace = new.namespace, status = new.status,
        commit_state = new.commit_state, text_len = length(new.text)
        WHERE doc = new.rowid;
END;
CREATE TRIGGER IF NOT EXISTS keyword_docs_ad AFTER DELETE ON memories BEGIN
    DELETE FROM keyword_docs WHERE doc = old.rowid;
END;
-- A namespace's keyword version: a new random value whenever a row of `keyword_docs` in
-- it changes, which every change to what its keyword search reads makes (a memory's text,
-- status, commit state or namespace, through the triggers above; its keyword context,
-- whose writes set `context_len`). The reader's cache of term matches
-- (`keyword_cache.py`) is valid while the versions of the namespaces it searched are
-- unchanged. Random, so that a restored file never repeats a version a process cached.
-- The column is added on open to a store made before it (connection.py).
CREATE TRIGGER IF NOT EXISTS keyword_version_ai AFTER INSERT ON keyword_docs BEGIN
    INSERT INTO namespace_docs (namespace, docs, version) VALUES (new.namespace, 0, random())
        ON CONFLICT (namespace) DO UPDATE SET version = random();
END;
CREATE TRIGGER IF NOT EXISTS keyword_version_au AFTER UPDATE ON keyword_docs BEGIN
    UPDATE namespace_docs SET version = random() WHERE namespace = old.namespace;
    INSERT INTO namespace_docs (namespace, docs, version) VALUES (new.namespace, 0, random())
        ON CONFLICT (namespace) DO UPDATE SET version = random();
END;
CREATE TRIGGER IF NOT EXISTS keyword_version_ad AFTER DELETE ON keyword_docs BEGIN
    UPDATE namespace_docs SET version = random() WHERE namespace = old.namespace;
END;

-- Issue 18: a memory's place in its writer's sequence in a namespace and session (seq), and
-- the turn it continues (previous_id): the order of a conversation and its neighbours.
CREATE TABLE IF NOT EXISTS memory_turns (
    memory_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    previous_id TEXT
);
CREATE INDEX IF NOT EXISTS memory_turns_previous ON memory_turns(previous_id);
CREATE TRIGGER IF NOT EXISTS memory_turns_ad AFTER DELETE ON memories BEGIN
    DELETE FROM memory_turns WHERE memory_id = old.id;
END;
