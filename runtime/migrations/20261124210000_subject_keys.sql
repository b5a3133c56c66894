-- Data keys of data subjects (crypto-shredding; docs/security.md). Each key is
-- stored sealed by the key-encryption key (KEY_ENCRYPTION_KEY), never in
-- clear. A subject is found by a keyed hash of its name (`lookup`), so the
-- name itself is stored nowhere. Erasing a subject deletes its key and its
-- lookup; the row stays as the audit of the erasure.
create table if not exists subject_keys (
    subject_id   uuid        primary key,
    lookup       bytea       unique,
    wrapped_key  text,
    kek_id       text        not null,
    created_at   timestamptz not null default now(),
    erased_at    timestamptz,
    erased_by    text,
    erase_reason text,
    check ((erased_at is null) = (wrapped_key is not null))
);
-- The key of the lookup hash: random, sealed by the KEK like a data key, so a
-- KEK rotation re-seals it and every lookup stays valid.
create table if not exists subject_lookup_key (
    id          boolean     primary key default true check (id),
    wrapped_key text        not null,
    kek_id      text        not null,
    created_at  timestamptz not null default now()
);
