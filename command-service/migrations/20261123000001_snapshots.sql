-- Write-side snapshots: a cache of the folded state of one partition, with the
-- offset it covers. Losing this table only makes the next start-up slower.
create table if not exists command_snapshots (
    topic       text        not null,
    partition   integer     not null,
    next_offset bigint      not null,
    taken_at    timestamptz not null default now(),
    state       bytea       not null,
    primary key (topic, partition)
);
