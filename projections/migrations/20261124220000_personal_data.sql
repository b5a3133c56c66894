-- Personal data (docs/personal-data.md): owners, references and freeze
-- reasons are stored as the log holds them, a JSON string in commits written
-- before sealing, else the sealed object; the query service opens them on
-- read. A backup of these tables holds no personal data of a sealed commit.
alter table accounts alter column owner type jsonb using to_jsonb(owner);
alter table accounts add column if not exists owner_subject uuid;
alter table accounts add column if not exists erased boolean not null default false;
create index if not exists accounts_owner_subject_id on accounts (owner_subject, id);
alter table account_entries alter column reference type jsonb using to_jsonb(reference);
alter table transfers alter column reference type jsonb using to_jsonb(reference);

-- Every data subject erased in the log: the fold state of subject commits.
create table if not exists erased_subjects (
    subject    uuid        primary key,
    commit_id  uuid        not null,
    erased_by  text        not null,
    reason     text        not null,
    erased_at  timestamptz not null,
    partition  integer     not null,
    "offset"   bigint      not null
);
-- The query service opens personal fields: it reads the (sealed) subject keys.
grant select on erased_subjects, subject_keys, subject_lookup_key to ledger_query;
