//! The metrics as a file for node_exporter's textfile collector, replaced atomically.
//!
//! node_exporter reads every `*.prom` file in its directory at each scrape; a half-written file
//! would be a failed scrape. The CLI writes the file through portscope's one safe write
//! (`portscope_history::safe_path::write_atomically`: an O_EXCL temporary file under an
//! unpredictable name, synced, renamed over the target, never through a link); this crate only
//! names it.

/// The file's name inside the directory.
pub const FILE_NAME: &str = "portscope.prom";
