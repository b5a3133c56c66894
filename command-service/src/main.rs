use clap::Parser;
use command_service::{Application, Config};
use ledger_runtime::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(config.log_format);
    Application::build(config).await?.run_until_stopped().await
}
