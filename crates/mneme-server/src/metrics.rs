//! `/metrics`: the cache's own metrics under mneme-cache 1.0's names (through the engine's
//! Prometheus hook) and the server's request metrics, in one registry.

use mneme::metrics::prometheus::PrometheusHook;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Mutex;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    outcome: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub hook: PrometheusHook,
    requests: Family<RouteLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let hook = PrometheusHook::register(&mut registry, "mneme");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ])
        });
        registry.register(
            "mneme_http_requests",
            "HTTP requests by route and outcome",
            requests.clone(),
        );
        registry.register(
            "mneme_http_request_duration_seconds",
            "HTTP request time by route and outcome",
            latency.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            hook,
            requests,
            latency,
        }
    }

    pub fn observe(&self, route: &str, outcome: &str, seconds: f64) {
        let labels = RouteLabels {
            route: route.to_owned(),
            outcome: outcome.to_owned(),
        };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(seconds);
    }

    /// The text exposition format, with the cache gauges refreshed from `stats`.
    pub fn render(&self, stats: Option<&mneme::Stats>) -> String {
        if let Some(s) = stats {
            self.hook.update_gauges(s);
        }
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}
