-- Transfers between accounts: holds on the account rows, transfer legs in
-- the entries, one row per transfer, its steps, and the ledger totals.

alter table accounts add column if not exists held bigint not null default 0;
alter table account_entries add column if not exists transfer_id uuid;

-- One row per transfer, merged from its legs in whatever order the workers of
-- the partitions involved project them. The flags are the legs seen; the
-- status is derived from them by the rule of `events::ledger::Legs::status`.
create table if not exists transfers (
    id             uuid        primary key,
    from_account   uuid,
    to_account     uuid,
    currency       text,
    amount         bigint,
    posted_amount  bigint,
    pending        boolean,
    reference      text,
    expires_at     timestamptz,
    refused_reason text,
    debited        boolean     not null default false,
    held           boolean     not null default false,
    posted         boolean     not null default false,
    voided         boolean     not null default false,
    expired        boolean     not null default false,
    credited       boolean     not null default false,
    refused        boolean     not null default false,
    reversed       boolean     not null default false,
    status         text        generated always as (
        case when reversed then 'reversed'
             when credited then 'completed'
             when voided then 'voided'
             when expired then 'expired'
             when held and not posted then 'held'
             else 'pending' end) stored,
    created_at     timestamptz not null,
    updated_at     timestamptz not null
);
create index if not exists transfers_from_id on transfers (from_account, id);
create index if not exists transfers_to_id on transfers (to_account, id);
create index if not exists transfers_open on transfers (created_at) where status in ('pending', 'held');

-- Every leg of every transfer, with its place in the log.
create table if not exists transfer_steps (
    transfer_id uuid        not null,
    account_id  uuid        not null,
    step        text        not null,
    amount      bigint      not null,
    partition   integer     not null,
    "offset"    bigint      not null,
    occurred_at timestamptz not null,
    primary key (transfer_id, account_id, step)
);

-- Per partition and currency, the sums the money identity is checked on:
-- balances + in_transit = deposits - withdrawals holds in every row after
-- every transaction, so it holds for the sum over rows on any snapshot.
create table if not exists ledger_totals (
    partition   integer not null,
    currency    text    not null,
    balances    bigint  not null default 0,
    held        bigint  not null default 0,
    in_transit  bigint  not null default 0,
    deposits    bigint  not null default 0,
    withdrawals bigint  not null default 0,
    primary key (partition, currency)
);

grant select on transfers, transfer_steps, ledger_totals to ledger_query;
