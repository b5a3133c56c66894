//! The `command-service` binary as a test sees it.

use testkit::{free_port, wait_ready, Broker, Database, Process, Stack};

/// A running `command-service` process on a fixed port.
pub struct Service {
    process: Process,
    pub base: String,
}

impl Service {
    pub fn start(broker: &Broker, db: &Database, topic: &str, env: &[(&str, &str)]) -> Service {
        Service::start_with_fd_limit(broker, db, topic, env, None)
    }

    /// [`Service::start`], with the open-file limit (soft and hard) set to `nofile` by `prlimit`.
    pub fn start_with_fd_limit(
        broker: &Broker,
        db: &Database,
        topic: &str,
        env: &[(&str, &str)],
        nofile: Option<u32>,
    ) -> Service {
        let port = free_port();
        let mut vars: Vec<(String, String)> = vec![
            ("KAFKA_BROKERS".into(), broker.addr.clone()),
            ("DATABASE_URL".into(), db.url.clone()),
            ("EVENTS_TOPIC".into(), topic.into()),
            ("HTTP_ADDR".into(), format!("127.0.0.1:{port}")),
            ("RUST_LOG".into(), "info,command_service=debug,rdkafka=warn".into()),
            ("JWT_SECRET".into(), ledger_runtime::TEST_JWT_SECRET.into()),
            // A restarted instance waits for its dead predecessor's session to expire.
            ("SESSION_TIMEOUT_MS".into(), "3000".into()),
            // A group per topic: the broker may be shared with other tests' services.
            ("WRITERS_GROUP".into(), format!("{topic}.writers")),
        ];
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let bin = env!("CARGO_BIN_EXE_command-service");
        let process = match nofile {
            None => Process::start(bin, vars),
            Some(n) => {
                Process::start_with_args("prlimit", vec![format!("--nofile={n}:{n}"), "--".into(), bin.into()], vars)
            }
        };
        Service { process, base: format!("http://127.0.0.1:{port}") }
    }

    /// Waits until `/readyz` answers 200 and returns its recovery report.
    pub async fn ready(&mut self) -> serde_json::Value {
        let url = format!("{}/readyz", self.base);
        wait_ready(&mut self.process, &url).await["recovery"].clone()
    }

    pub fn kill9(&mut self) {
        self.process.kill9();
    }

    pub fn restart(&mut self) {
        self.process.restart();
    }

    /// The process's log file.
    pub fn log(&self) -> &std::path::Path {
        &self.process.log
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Sends `signal` (`-STOP`, `-CONT`, …) to the process.
    pub fn signal(&self, signal: &str) {
        self.process.signal(signal);
    }

    /// SIGTERM, and waits for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.process.terminate()
    }
}

/// Starts a command service on the stack and waits until it is ready.
pub async fn service(stack: &Stack, env: &[(&str, &str)]) -> Service {
    let mut service = Service::start(&stack.broker, &stack.db, &stack.topic, env);
    service.ready().await;
    service
}
