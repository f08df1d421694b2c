//! `portscope exporter`: the machine's ports as Prometheus metrics, served over HTTP or written
//! for node_exporter's textfile collector. The metrics, the cache and the server live in
//! `portscope-exporter`; this module checks the flags, wires the platform in and says what it
//! serves.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use portscope_exporter::collector::{Collector, MIN_CACHE, Source};
use portscope_exporter::http::{self, App, Plain};
use portscope_exporter::textfile;
use portscope_exporter::webconfig::{BasicAuth, Tls, WebConfig};

use crate::audit::{self, allow};
use crate::baseline::Baseline;
use crate::error::{Error, ExitCode, Result};
use crate::files;
use crate::output;
use crate::platform::Platform;

use super::lookup::LocalNamesArgs;

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
    #[command(flatten)]
    pub names: LocalNamesArgs,
}

fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{text:?} is not a duration like 1s or 500ms ({e})"))
}

fn parse_interval(text: &str) -> std::result::Result<Duration, String> {
    let interval = parse_duration(text)?;
    if interval < Duration::from_secs(1) {
        return Err(format!("{text:?} is too short; the interval is at least 1s"));
    }
    Ok(interval)
}

fn parse_cache(text: &str) -> std::result::Result<Duration, String> {
    let cache = parse_duration(text)?;
    if cache < MIN_CACHE {
        return Err(format!(
            "{text:?} is too short; collections are reused for at least 1s"
        ));
    }
    Ok(cache)
}

pub fn run(args: &ExporterArgs, host: &'static dyn Platform) -> Result<ExitCode> {
    let web = match &args.web_config {
        Some(path) => {
            let bytes = files::read_bounded(path, "web config file", files::MAX_INPUT)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| Error::Usage(format!("{}: not UTF-8 text", path.display())))?;
            WebConfig::parse(&text, path).map_err(|m| Error::Usage(format!("{}: {m}", path.display())))?
        }
        None => WebConfig::default(),
    };
    let secured = web.tls_server_config.is_some() && !web.basic_auth_users.is_empty();
    if args.textfile.is_none() && !args.listen.ip().is_loopback() && !secured && !args.insecure_listen {
        return Err(Error::Usage(format!(
            "refusing to serve metrics on {} without TLS and authentication: every listener and the \
             program behind it would be visible to anyone who can connect; listen on loopback, give \
             --web-config FILE with tls_server_config and basic_auth_users, or --insecure-listen",
            args.listen
        )));
    }
    let tls = web
        .tls()
        .map_err(|m| Error::Usage(format!("--web-config: {m}")))?;
    let allow = match &args.allow {
        Some(path) => {
            let bytes = files::read_bounded(path, "allow-list file", files::MAX_INPUT)?;
            allow::parse(&bytes).map_err(|message| Error::Usage(format!("{}: {message}", path.display())))?
        }
        None => Vec::new(),
    };
    let options = audit::Options {
        deep: false,
        allow,
        names: args.names.load()?,
    };
    let baseline = match &args.baseline {
        Some(path) => {
            let bytes = files::read_bounded(path, "baseline file", files::MAX_INPUT)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| Error::Usage(format!("{}: not UTF-8 text", path.display())))?;
            Some(Baseline::parse(&text).map_err(|m| Error::Usage(format!("{}: {m}", path.display())))?)
        }
        None => None,
    };
    // Bound before the first collection, so the exporter's own port is not counted as an event.
    let output = match &args.textfile {
        Some(dir) => Output::Textfile(dir),
        None => Output::Http(
            TcpListener::bind(args.listen)
                .map_err(|e| Error::io(format!("listening on {}", args.listen), e))?,
        ),
    };
    let collector = Collector::new(host, options, baseline, args.cache, env!("CARGO_PKG_VERSION"))
        .map_err(Error::System)?;
    // The first collection before anything is served: a host that cannot be read fails here, once.
    let first = collector.scrape().map_err(Error::System)?;
    if let Some(note) = crate::privilege::hidden_owners_note(first.unreadable_processes, host.privileges()) {
        output::note(&note);
    }
    match output {
        Output::Textfile(dir) => textfile_loop(&collector, dir, args),
        Output::Http(listener) => serve(listener, collector, args, tls, web.auth(), secured),
    }
}

/// Where the metrics go.
enum Output<'a> {
    Textfile(&'a std::path::Path),
    Http(TcpListener),
}

fn serve(
    listener: TcpListener,
    collector: Collector,
    args: &ExporterArgs,
    tls: Option<Tls>,
    auth: Option<BasicAuth>,
    secured: bool,
) -> Result<ExitCode> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut url = format!(
        "{scheme}://{}/metrics",
        listener.local_addr().unwrap_or(args.listen)
    );
    if auth.is_some() {
        url.push_str(" (basic authentication)");
    }
    if args.insecure_listen && !args.listen.ip().is_loopback() && !secured {
        output::note(&format!(
            "--insecure-listen: serving {url} without TLS or authentication; anyone who can reach it \
             sees every listener and the program behind it"
        ));
    } else {
        output::note(&format!("serving {url}"));
    }
    let app = Arc::new(App {
        source: Arc::new(collector),
        auth: auth.map(|a| Arc::new(a) as Arc<dyn http::Authorizer>),
    });
    let wrapper: Arc<dyn http::Wrapper> = match tls {
        Some(tls) => Arc::new(tls),
        None => Arc::new(Plain),
    };
    http::serve(listener, app, wrapper).map_err(|e| Error::io("serving metrics", e))?;
    Ok(ExitCode::Ok)
}

fn textfile_loop(collector: &Collector, dir: &std::path::Path, args: &ExporterArgs) -> Result<ExitCode> {
    if !dir.is_dir() {
        return Err(Error::Usage(format!("{}: no such directory", dir.display())));
    }
    let mut first = true;
    loop {
        // The first exposition was collected a moment ago and is still cached.
        let exposition = collector.scrape().map_err(Error::System)?;
        let path = textfile::write(dir, &exposition.classic)
            .map_err(|e| Error::io(format!("writing {}", dir.join(textfile::FILE_NAME).display()), e))?;
        if first {
            output::note(&format!(
                "wrote {}{}",
                path.display(),
                if args.once {
                    String::new()
                } else {
                    format!(
                        "; rewriting it every {}",
                        humantime::format_duration(args.interval)
                    )
                }
            ));
            first = false;
        }
        if args.once {
            return Ok(ExitCode::Ok);
        }
        std::thread::sleep(args.interval);
    }
}
