//! SQL of transfers and the ledger totals: SELECTs only. Lowercase SQL, binds only.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::Error;

/// A transfer as the read model holds it, merged from the legs projected so far.
#[derive(Debug, Serialize, FromRow, ToSchema)]
#[schema(as = TransferSummary)]
pub struct TransferView {
    pub transfer_id: Uuid,
    /// `pending`, `held`, `completed`, `reversed`, `voided` or `expired`.
    #[schema(example = "completed")]
    pub status: String,
    /// What the source debited or held (null until a leg that carries it is projected).
    pub amount: Option<i64>,
    /// What a posted hold captured; null unless posted.
    pub posted_amount: Option<i64>,
    pub currency: Option<String>,
    /// The source account.
    #[serde(rename = "from")]
    pub from_account: Option<Uuid>,
    /// The destination account.
    #[serde(rename = "to")]
    pub to_account: Option<Uuid>,
    /// `null` when there is none, or once its author is erased.
    #[sqlx(skip)]
    pub reference: Option<String>,
    #[sqlx(rename = "reference")]
    #[serde(skip)]
    pub stored_reference: Option<serde_json::Value>,
    /// Its author's erasure is projected: not opened, whatever a key cache holds.
    #[serde(skip)]
    pub reference_erased: bool,
    /// Two-phase: the money was held first, then posted, voided or expired.
    pub pending: Option<bool>,
    /// When an unposted hold expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Why the destination refused the credit (an error code such as `account_closed`).
    pub refused_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TransferView {
    /// Opens the stored reference: sealed for the source's owner, as a field
    /// of the source (its debit or hold) or of the destination (its credit).
    pub async fn open(mut self, opener: &crate::personal::Opener) -> Result<Self, Error> {
        if let Some(stored) = self.stored_reference.as_ref().filter(|_| !self.reference_erased) {
            let places: Vec<Uuid> = [self.from_account, self.to_account].into_iter().flatten().collect();
            self.reference = opener.open(stored, &places, "reference").await?.text;
        }
        Ok(self)
    }
}

/// One leg of a transfer, where the log recorded it.
#[derive(Debug, Serialize, FromRow, ToSchema)]
#[schema(as = TransferStep)]
pub struct StepView {
    /// The event type of the leg.
    #[schema(example = "TransferDebited")]
    pub step: String,
    /// The account that recorded the leg.
    pub account_id: Uuid,
    pub amount: i64,
    pub partition: i32,
    pub offset: i64,
    pub occurred_at: DateTime<Utc>,
}

/// A transfer with its steps, in log order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Transfer)]
pub struct TransferDetail {
    #[serde(flatten)]
    pub transfer: TransferView,
    /// By `occurred_at`, then partition and offset.
    pub steps: Vec<StepView>,
}

/// The ledger totals of one currency, summed over partitions on one snapshot:
/// `balances + in_transit = deposits - withdrawals`.
#[derive(Debug, Serialize, FromRow, ToSchema)]
pub struct LedgerTotals {
    #[schema(example = "EUR")]
    pub currency: String,
    /// The sum of the account balances (holds included).
    pub balances: i64,
    /// The sum of the open holds.
    pub held: i64,
    /// Debited from a source, not yet credited or reversed.
    pub in_transit: i64,
    pub deposits: i64,
    pub withdrawals: i64,
}

const TRANSFER_COLUMNS: &str = "id as transfer_id, status, amount, posted_amount, currency, from_account, to_account,
        reference, pending, expires_at, refused_reason, created_at, updated_at,
        exists (select 1 from erased_subjects e where e.subject = (reference->>'subject')::uuid) as reference_erased";

/// One transfer and its steps, read on one snapshot. With `owner` (a client)
/// the transfer is found only if that owner holds its source or destination.
pub async fn transfer(
    pool: &PgPool,
    id: Uuid,
    owner: Option<(&str, Option<Uuid>)>,
) -> Result<Option<TransferDetail>, Error> {
    let (name, subject) = owner.map_or((None, None), |(name, subject)| (Some(name), subject));
    let mut tx = pool.begin().await?;
    sqlx::query("set transaction isolation level repeatable read").execute(&mut *tx).await?;
    let sql = format!(
        "select {TRANSFER_COLUMNS} from transfers t
          where t.id = $1
            and ($2::text is null or exists (
                select 1 from accounts a
                 where a.id in (t.from_account, t.to_account) and a.status <> 'not_opened'
                   and (a.owner_subject = $3 or a.owner = to_jsonb($2::text))))"
    );
    let found = sqlx::query_as(&sql).bind(id).bind(name).bind(subject).fetch_optional(&mut *tx).await?;
    let Some(transfer) = found else {
        return Ok(None);
    };
    let steps = sqlx::query_as(
        "select step, account_id, amount, partition, \"offset\", occurred_at
           from transfer_steps where transfer_id = $1
          order by occurred_at, partition, \"offset\"",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(TransferDetail { transfer, steps }))
}

/// One page of the transfers an account sent or received, with ids below
/// `before`, newest first; `limit + 1` rows tell if there is more. Each side
/// is an index range scan of its own (`transfers_from_id`, `transfers_to_id`).
pub async fn account_transfers(
    pool: &PgPool,
    account: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<TransferView>, Error> {
    let sql = format!(
        "select {TRANSFER_COLUMNS} from (
            (select * from transfers where from_account = $1 and id < $2 order by id desc limit $3)
            union all
            (select * from transfers where to_account = $1 and id < $2 order by id desc limit $3)
         ) t
         order by id desc limit $3"
    );
    Ok(sqlx::query_as(&sql).bind(account).bind(before.unwrap_or(Uuid::max())).bind(limit + 1).fetch_all(pool).await?)
}

/// The totals of one currency in one statement (one snapshot); all zeros for a currency never seen.
pub async fn ledger_totals(pool: &PgPool, currency: &str) -> Result<LedgerTotals, Error> {
    Ok(sqlx::query_as(
        "select $1::text as currency, coalesce(sum(balances), 0)::int8 as balances,
                coalesce(sum(held), 0)::int8 as held, coalesce(sum(in_transit), 0)::int8 as in_transit,
                coalesce(sum(deposits), 0)::int8 as deposits, coalesce(sum(withdrawals), 0)::int8 as withdrawals
           from ledger_totals where currency = $1",
    )
    .bind(currency)
    .fetch_one(pool)
    .await?)
}

/// The totals of every currency in one statement (one snapshot), by currency.
pub async fn all_ledger_totals(pool: &PgPool) -> Result<Vec<LedgerTotals>, Error> {
    Ok(sqlx::query_as(
        "select currency, sum(balances)::int8 as balances, sum(held)::int8 as held,
                sum(in_transit)::int8 as in_transit, sum(deposits)::int8 as deposits,
                sum(withdrawals)::int8 as withdrawals
           from ledger_totals group by currency order by currency",
    )
    .fetch_all(pool)
    .await?)
}
