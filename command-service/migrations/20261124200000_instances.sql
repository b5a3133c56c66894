-- Command-service instances of a topic and the partitions each owns, as each
-- publishes it (every half second and after each rebalance). Not the source of
-- ownership (the Kafka consumer group is): a directory that lets any instance
-- find the owner of a partition. A row not refreshed within the session
-- timeout is not live.
create table if not exists command_instances (
    instance_id uuid        primary key,
    topic       text        not null,
    url         text        not null,
    partitions  integer[]   not null default '{}',
    generation  bigint      not null default 0,
    aggregates  bigint      not null default 0,
    started_at  timestamptz not null default now(),
    seen_at     timestamptz not null default now()
);
create index if not exists command_instances_topic on command_instances (topic, seen_at);
-- Ownership generations: one per assignment any instance receives, so the
-- newest claim on a partition wins while an older one has not yet gone stale.
create sequence if not exists command_instance_generations;
