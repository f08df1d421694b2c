//! `portscope exporter` in a build with the `exporter` feature: checks the flags, wires the
//! platform into `portscope-exporter`'s collector and says what it serves.

use std::net::TcpListener;
use std::sync::Arc;

use portscope_exporter::collector::{Collector, Source};
use portscope_exporter::http::{self, App, Plain};
use portscope_exporter::textfile;
use portscope_exporter::webconfig::{BasicAuth, Tls, WebConfig};

use crate::audit::{self, allow};
use crate::baseline::Baseline;
use crate::error::{Error, ExitCode, Result};
use crate::files;
use crate::output;
use crate::platform::Platform;

use super::args::ExporterArgs;

// `--cache` is parsed against the flags' copy of the collector's minimum.
const _: () =
    assert!(super::args::MIN_CACHE.as_nanos() == portscope_exporter::collector::MIN_CACHE.as_nanos());

pub fn run(args: &ExporterArgs, host: &'static dyn Platform) -> Result<ExitCode> {
    let filter = crate::commands::expression_of(args.filter.as_deref().unwrap_or_default())?;
    let web = match &args.web_config {
        Some(path) => {
            let bytes = files::read_trusted(path, "web config file", files::MAX_INPUT)?;
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
    // The key and certificate follow the web config's policy: whoever could change them could
    // impersonate the exporter. Their own errors keep their exit codes (a refusal is 5).
    let tls_read_error = std::cell::RefCell::new(None);
    let tls = web
        .tls(|path, what| {
            files::read_trusted(path, what, files::MAX_TLS_FILE).map_err(|e| {
                let text = e.to_string();
                *tls_read_error.borrow_mut() = Some(e);
                text
            })
        })
        .map_err(|m| {
            tls_read_error
                .take()
                .unwrap_or_else(|| Error::Usage(format!("--web-config: {m}")))
        })?;
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
        .map_err(Error::System)?
        .with_filter(filter);
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

/// Rewrites DIR/portscope.prom every interval. A write that fails (a full disk, a refused
/// planted name) pauses the file, not the exporter: one note, a retry each interval, and a
/// note when it resumes, as `watch` does with its database. Only `--once` exits on it.
fn textfile_loop(collector: &Collector, dir: &std::path::Path, args: &ExporterArgs) -> Result<ExitCode> {
    if !dir.is_dir() {
        return Err(Error::Usage(format!("{}: no such directory", dir.display())));
    }
    let target = dir.join(textfile::FILE_NAME);
    let mut first = true;
    let mut paused = false;
    loop {
        // The first exposition was collected a moment ago and is still cached.
        let exposition = collector.scrape().map_err(Error::System)?;
        let written = portscope_history::safe_path::write_atomically(
            &target,
            exposition.classic.as_bytes(),
            0o644,
            "textfile",
        );
        match written {
            Err(e) if args.once => return Err(e),
            Err(e) => {
                if !paused {
                    output::note(&format!(
                        "{e}; writing the textfile is paused, trying again every {}",
                        humantime::format_duration(args.interval)
                    ));
                    paused = true;
                }
            }
            Ok(()) if paused => {
                output::note(&format!("writing {} resumed", target.display()));
                paused = false;
            }
            Ok(()) => {}
        }
        if first && !paused {
            output::note(&format!(
                "wrote {}{}",
                target.display(),
                if args.once {
                    String::new()
                } else {
                    format!(
                        "; rewriting it every {}",
                        humantime::format_duration(args.interval)
                    )
                }
            ));
        }
        first = false;
        if args.once {
            return Ok(ExitCode::Ok);
        }
        std::thread::sleep(args.interval);
    }
}
