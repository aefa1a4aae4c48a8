//! Forwards the engine's `log` records to Python `logging`, under the logger named by the
//! record's target (`mneme.cache`, `mneme.metrics`, …), as mneme-cache 1.0 logs them; or, in a
//! process that runs `mneme serve`, to the server's own logger, so request lines never wait
//! for the GIL.

use pyo3::prelude::*;
use std::sync::OnceLock;

/// Where records go instead of Python, once set.
static DIRECT: OnceLock<&'static dyn log::Log> = OnceLock::new();

/// Sends every later record to `logger` instead of Python `logging` (for the process's life).
pub fn send_to(logger: &'static dyn log::Log) {
    let _ = DIRECT.set(logger);
}

struct PythonLogging;

impl log::Log for PythonLogging {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        match DIRECT.get() {
            Some(direct) => direct.enabled(metadata),
            None => metadata.target().starts_with("mneme"),
        }
    }

    fn log(&self, record: &log::Record<'_>) {
        if let Some(direct) = DIRECT.get() {
            return direct.log(record);
        }
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Error => 40,
            log::Level::Warn => 30,
            log::Level::Info => 20,
            _ => 10,
        };
        let message = record.args().to_string();
        Python::attach(|py| {
            let _ = py.import("logging").and_then(|logging| {
                logging
                    .call_method1("getLogger", (record.target(),))?
                    .call_method1("log", (level, "%s", message))
            });
        });
    }

    fn flush(&self) {}
}

static LOGGER: PythonLogging = PythonLogging;

/// Installs the bridge once per process (later calls are no-ops).
pub fn install() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}
