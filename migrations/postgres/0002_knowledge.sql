-- Knowledge bases (PostgreSQL): documents, their chunks, and one embedding vector per
-- chunk, as in migrations/sqlite/0002_knowledge.sql. Every table carries org_id and is
-- under the same FORCEd row-level security policy as 0001 (see its header).

CREATE TABLE knowledge_bases (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    -- Bumped in the same transaction as every change to the base's vectors; search caches
    -- a base's matrix keyed on it.
    version     bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL
);
CREATE INDEX knowledge_bases_org ON knowledge_bases(org_id, id);

CREATE TABLE documents (
    id              uuid PRIMARY KEY,
    kb_id           uuid NOT NULL REFERENCES knowledge_bases(id) ON DELETE CASCADE,
    org_id          uuid NOT NULL,
    name            text NOT NULL,
    media_type      text NOT NULL,
    size_bytes      bigint NOT NULL,
    sha256          text NOT NULL,   -- lowercase hex of the uploaded bytes
    blob_key        text NOT NULL,   -- BlobStore key of the original file
    status          text NOT NULL CHECK (status IN ('queued','extracting','embedding','ready','failed')),
    chunks_total    bigint NOT NULL,
    chunks_embedded bigint NOT NULL DEFAULT 0, -- = number of rows in chunk_vectors
    error           text,
    created_at      timestamptz NOT NULL,
    UNIQUE (kb_id, sha256)
);
CREATE INDEX documents_kb ON documents(org_id, kb_id, id);

CREATE TABLE chunks (
    id          uuid PRIMARY KEY,
    document_id uuid NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    kb_id       uuid NOT NULL,
    org_id      uuid NOT NULL,
    ordinal     bigint NOT NULL,
    text        text NOT NULL,
    heading     text NOT NULL,
    page        bigint,
    start_char  bigint NOT NULL, -- offsets in Unicode scalar values into the extracted text
    end_char    bigint NOT NULL,
    token_count bigint NOT NULL,
    UNIQUE (document_id, ordinal)
);
CREATE INDEX chunks_org ON chunks(org_id);

-- One vector per chunk (the primary key makes a redelivered embed job a no-op).
CREATE TABLE chunk_vectors (
    chunk_id    uuid PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    document_id uuid NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    kb_id       uuid NOT NULL,
    org_id      uuid NOT NULL,
    model       text NOT NULL,  -- e.g. all-MiniLM-L6-v2
    dim         bigint NOT NULL,
    vector      bytea NOT NULL  -- dim little-endian f32, unit L2 norm
);
CREATE INDEX chunk_vectors_kb ON chunk_vectors(org_id, kb_id);
CREATE INDEX chunk_vectors_document ON chunk_vectors(document_id);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['knowledge_bases', 'documents', 'chunks', 'chunk_vectors'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (org_id = NULLIF(current_setting('autonoma.org_id', true), '')::uuid)
            WITH CHECK (org_id = NULLIF(current_setting('autonoma.org_id', true), '')::uuid)$p$, t);
    END LOOP;
END
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON knowledge_bases, documents, chunks, chunk_vectors TO autonoma_app;
