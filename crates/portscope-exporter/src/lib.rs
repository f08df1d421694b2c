//! portscope's Prometheus exporter: the machine's ports as metrics, for fleets.
//!
//! - [`metrics`]: pure — one snapshot and one audit report become metric families, encoded as
//!   OpenMetrics text (what Prometheus asks for) or the classic text format (what
//!   node_exporter's textfile collector and `promtool check metrics` read).
//! - [`collector`]: one collection over a [`Platform`](portscope_core::Platform) (snapshot, audit,
//!   port events since the last look), cached so that a storm of scrapes costs one collection.
//! - [`http`]: a small blocking HTTP/1.1 server with bounded requests: `/metrics`, `/health`, and
//!   404, 400 or 431 for everything else, never a crash.
//! - [`textfile`]: the same metrics written atomically for node_exporter's textfile collector.
//! - [`webconfig`]: TLS (rustls) and basic authentication from an exporter-toolkit
//!   `web-config.yml`.
//!
//! No operating-system code lives here: the platform is handed in by the binary.

pub mod collector;
pub mod http;
pub mod metrics;
pub mod textfile;
pub mod webconfig;
