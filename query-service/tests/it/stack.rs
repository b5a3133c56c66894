//! The whole system, in-process, on free ports (`testkit::system`).

pub use testkit::system::System;

/// Every service, reads waiting at most `consistency_wait_ms` for a token.
pub async fn system(consistency_wait_ms: u64) -> System {
    System::start(true, Some(consistency_wait_ms)).await
}
