//! `ledgerctl` and the analyst endpoints against a real broker, real workers
//! and real read models.

mod backup;
mod common;
mod export;
mod replay;
mod reseal;
mod verify;
