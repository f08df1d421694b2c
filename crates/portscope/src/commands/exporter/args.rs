//! The flags of `portscope exporter`, the same in every build so that help and completions never
//! change.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::commands::lookup::LocalNamesArgs;

/// The shortest `--cache`: `portscope_exporter::collector::MIN_CACHE`, here too so that a build
/// without the exporter parses the flag the same way (`enabled.rs` checks that the two agree).
pub(super) const MIN_CACHE: Duration = Duration::from_secs(1);

#[derive(Args, Debug, Clone)]
#[command(after_long_help = "Examples:
  sudo portscope exporter                   serve /metrics on 127.0.0.1:9750
  sudo portscope exporter --listen 0.0.0.0:9750 --web-config web.yml

Metrics: portscope_listening_socket_info{proto,address,port,netns,process,exe,user,unit,container,service} 1 \
per listening port; portscope_sockets{proto,state,netns}; portscope_audit_findings{severity,rule}; \
portscope_port_events_total{kind}; portscope_unreadable_processes; portscope_scrape_duration_seconds; \
portscope_build_info{version}.

Only /metrics and /health are served. A collection is reused for --cache (at least 1s), so many \
scrapers cost one collection. Run as root, or with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, to \
name every socket's program.")]
pub struct ExporterArgs {
    /// Address and port to serve /metrics and /health on.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9750")]
    pub listen: SocketAddr,
    /// TLS and basic authentication, in the format of Prometheus's exporter-toolkit
    /// (tls_server_config: cert_file, key_file; basic_auth_users: name: bcrypt hash).
    #[arg(long, value_name = "FILE")]
    pub web_config: Option<PathBuf>,
    /// Serve on an address other than loopback without TLS or authentication (said on every start).
    #[arg(long)]
    pub insecure_listen: bool,
    /// Write DIR/portscope.prom for node_exporter's textfile collector instead of serving HTTP.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["insecure_listen"])]
    pub textfile: Option<PathBuf>,
    /// With --textfile: how often to rewrite the file.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_interval)]
    pub interval: Duration,
    /// With --textfile: write the file once and exit.
    #[arg(long, requires = "textfile")]
    pub once: bool,
    /// Reuse a collection for this long (at least 1s).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_cache)]
    pub cache: Duration,
    /// Compare the listening ports with this baseline file (`portscope baseline save`) and
    /// export the differences as portscope_baseline_difference_info.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Leave out the audit findings this TOML allow-list silences ([[allow]] program, port, check).
    #[arg(long, value_name = "FILE")]
    pub allow: Option<PathBuf>,
    /// Describe only the sockets this filter keeps, e.g. 'not netns ~ "ci-*"' (the filter
    /// language of `list`, docs/filter.md); portscope_audit_findings still counts every finding.
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    #[command(flatten)]
    pub names: LocalNamesArgs,
}

/// A collection interval: at least a second, at most a day.
fn parse_interval(text: &str) -> std::result::Result<Duration, String> {
    crate::duration::within(text, Duration::from_secs(1), DAY)
}

/// How long a collection is reused: at least [`MIN_CACHE`], at most a day.
fn parse_cache(text: &str) -> std::result::Result<Duration, String> {
    crate::duration::within(text, MIN_CACHE, DAY)
}

const DAY: Duration = Duration::from_secs(24 * 3600);
