-- Read models. Disposable: the Kafka log is the source of truth, and every
-- row here is the fold of that log up to the checkpoint of its partition.

create table if not exists accounts (
    id              uuid        primary key,
    owner           text        not null,
    currency        text        not null,
    balance         bigint      not null,
    overdraft_limit bigint      not null,
    status          text        not null,
    version         bigint      not null,
    opened_at       timestamptz not null,
    updated_at      timestamptz not null
);
create index if not exists accounts_owner_id on accounts (owner, id);
create index if not exists accounts_status_id on accounts (status, id);

create table if not exists account_entries (
    account_id    uuid        not null,
    sequence      bigint      not null,
    kind          text        not null,
    amount        bigint      not null,
    balance_after bigint      not null,
    reference     text,
    commit_id     uuid        not null,
    partition     integer     not null,
    "offset"      bigint      not null,
    occurred_at   timestamptz not null,
    primary key (account_id, sequence)
);

create table if not exists event_archive (
    event_id       uuid        primary key,
    commit_id      uuid        not null,
    aggregate_type text        not null,
    aggregate_id   uuid        not null,
    sequence       bigint      not null,
    event_type     text        not null,
    schema_version integer     not null,
    data           jsonb       not null,
    partition      integer     not null,
    "offset"       bigint      not null,
    occurred_at    timestamptz not null,
    unique (aggregate_id, sequence)
);
create index if not exists event_archive_occurred_at on event_archive (occurred_at, event_id);
create index if not exists event_archive_type on event_archive (event_type, occurred_at);

-- One row per (projection, topic, partition): the next offset to apply. Moved
-- only in the transaction that writes the batch, and only from the offset the
-- batch started at, so a worker that lost the partition cannot commit.
create table if not exists projection_checkpoints (
    projection     text        not null,
    topic          text        not null,
    partition      integer     not null,
    next_offset    bigint      not null,
    log_end_offset bigint      not null default 0,
    updated_at     timestamptz not null default now(),
    primary key (projection, topic, partition)
);

-- The query service's role: it may only read.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'ledger_query') then
        create role ledger_query login;
    end if;
exception when duplicate_object or unique_violation then
    null; -- another database of this cluster created it meanwhile
end
$$;
grant select on accounts, account_entries, event_archive, projection_checkpoints to ledger_query;
