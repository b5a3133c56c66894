use clap::Parser;
use ledger_runtime::telemetry;
use webhooks::{Application, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let _telemetry = telemetry::init(config.log_format, "webhooks");
    Application::build(config).await?.run_until_stopped().await
}
