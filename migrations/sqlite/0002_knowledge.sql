-- Knowledge bases: documents, their chunks, and one embedding vector per chunk.
-- Every table carries org_id; every query filters by it.

CREATE TABLE knowledge_bases (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- Bumped in the same transaction as every change to the base's vectors; search caches
    -- a base's matrix keyed on it.
    version     INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
);
CREATE INDEX knowledge_bases_org ON knowledge_bases(org_id, id);

CREATE TABLE documents (
    id              TEXT PRIMARY KEY,
    kb_id           TEXT NOT NULL REFERENCES knowledge_bases(id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    name            TEXT NOT NULL,
    media_type      TEXT NOT NULL,
    size_bytes      INTEGER NOT NULL,
    sha256          TEXT NOT NULL,   -- lowercase hex of the uploaded bytes
    blob_key        TEXT NOT NULL,   -- BlobStore key of the original file
    status          TEXT NOT NULL CHECK (status IN ('queued','extracting','embedding','ready','failed')),
    chunks_total    INTEGER NOT NULL,
    chunks_embedded INTEGER NOT NULL DEFAULT 0, -- = number of rows in chunk_vectors
    error           TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (kb_id, sha256)
);
CREATE INDEX documents_kb ON documents(org_id, kb_id, id);

CREATE TABLE chunks (
    id          TEXT PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    kb_id       TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    ordinal     INTEGER NOT NULL,
    text        TEXT NOT NULL,
    heading     TEXT NOT NULL,
    page        INTEGER,
    start_char  INTEGER NOT NULL, -- offsets in Unicode scalar values into the extracted text
    end_char    INTEGER NOT NULL,
    token_count INTEGER NOT NULL,
    UNIQUE (document_id, ordinal)
);

-- One vector per chunk (the primary key makes a redelivered embed job a no-op).
CREATE TABLE chunk_vectors (
    chunk_id    TEXT PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    kb_id       TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    model       TEXT NOT NULL,  -- e.g. all-MiniLM-L6-v2
    dim         INTEGER NOT NULL,
    vector      BLOB NOT NULL   -- dim little-endian f32, unit L2 norm
);
CREATE INDEX chunk_vectors_kb ON chunk_vectors(org_id, kb_id);
CREATE INDEX chunk_vectors_document ON chunk_vectors(document_id);
