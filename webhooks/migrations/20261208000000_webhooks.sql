-- The webhooks service's tables (it owns every `webhook_` table).

create table webhook_endpoints (
    id uuid primary key,
    -- The token subject that created it; a client endpoint sees only this subject's accounts.
    owner_sub text not null,
    -- 'own': the owner's accounts; 'all': every account (ops only).
    scope text not null check (scope in ('own', 'all')),
    url text not null,
    description text not null default '',
    -- Message types, or '*' for all.
    event_types text[] not null,
    enabled boolean not null default true,
    disabled_reason text,
    -- The signing secret, sealed under the KEK; the previous one during a rotation's overlap.
    secret_sealed text not null,
    kek_id text not null,
    previous_sealed text,
    previous_until timestamptz,
    -- Since when every attempt has failed (null after a success).
    failing_since timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index webhook_endpoints_by_owner on webhook_endpoints (owner_sub, id);

-- How far each partition of the log has been turned into deliveries: the
-- offset of the next record, and the commit id of the record before it.
create table webhook_cursors (
    topic text not null,
    partition int not null,
    next_offset bigint not null,
    last_commit uuid,
    primary key (topic, partition)
);

-- Every accepted event, as a message (personal fields as the log holds them).
create table webhook_messages (
    event_id uuid primary key,
    event_type text not null,
    account_id uuid not null,
    partition int not null,
    "offset" bigint not null,
    event_index int not null,
    occurred_at timestamptz not null,
    owner_subject uuid,
    owner_clear text,
    body jsonb not null
);
create index webhook_messages_by_place on webhook_messages (partition, "offset", event_index);
create index webhook_messages_by_time on webhook_messages (occurred_at);

-- One message to one endpoint. Per (endpoint, account) only the pending one
-- with the lowest log place is sent: a later one waits until it is delivered.
create table webhook_deliveries (
    endpoint_id uuid not null references webhook_endpoints (id) on delete cascade,
    event_id uuid not null references webhook_messages (event_id),
    account_id uuid not null,
    partition int not null,
    "offset" bigint not null,
    event_index int not null,
    -- 'pending', 'delivered', or 'failed' (given up after the last retry).
    status text not null default 'pending',
    attempts int not null default 0,
    next_attempt_at timestamptz not null default now(),
    created_at timestamptz not null default now(),
    delivered_at timestamptz,
    primary key (endpoint_id, event_id)
);
create index webhook_deliveries_heads on webhook_deliveries (endpoint_id, account_id, "offset", event_index) where status = 'pending';
create index webhook_deliveries_due on webhook_deliveries (partition, next_attempt_at) where status = 'pending';

create table webhook_attempts (
    id bigserial primary key,
    endpoint_id uuid not null references webhook_endpoints (id) on delete cascade,
    event_id uuid,
    event_type text not null,
    attempt int not null,
    at timestamptz not null default now(),
    status_code int,
    -- 'delivered', 'failed', 'timeout', 'refused' (egress), 'network'.
    outcome text not null,
    duration_ms int not null,
    response text not null default '',
    error text
);
create index webhook_attempts_by_endpoint on webhook_attempts (endpoint_id, id desc);
