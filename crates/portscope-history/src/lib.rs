//! The history of ports: every event `watch` sees, in an embedded SQLite database.
//!
//! The database runs in WAL mode and each event is written in its own transaction, so a watcher
//! killed at any moment (kill -9 included) loses at most the event it was writing and leaves a
//! file that opens. `synchronous = NORMAL` keeps that promise for a killed process; only a power
//! loss can drop the last few commits. Reading turns the event log into [`Span`]s: when each port
//! was opened, by whom, and when it closed.

pub mod safe_path;
pub mod schema;
pub mod spans;

pub use spans::{Span, spans};

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Row, params};

use portscope_core::error::{Error, Result};
use portscope_core::model::{Endpoint, Protocol};
use portscope_core::watch::{Event, EventKind, Owner, PortKey, PortTable};

/// Where history lives unless `--db` says otherwise: `$XDG_STATE_HOME/portscope/history.db`,
/// else `~/.local/state/portscope/history.db`.
pub fn default_path() -> Result<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty() && Path::new(v).is_absolute())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".local/state"))
        })
        .ok_or_else(|| {
            Error::Usage("neither XDG_STATE_HOME nor HOME is set; give the history database with --db".into())
        })?;
    Ok(state.join("portscope").join("history.db"))
}

/// An open history database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The recorder's lock, held while this store records (see [`Store::claim_recorder`]).
    recorder_lock: Option<std::fs::File>,
    /// Rows that could not be read (damaged or written by something else), skipped.
    skipped: std::cell::Cell<usize>,
}

/// Whether this process may record to a database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This process is the database's recorder until it exits.
    Claimed,
    /// Another process records to it; the lock file's device and inode, so that the platform
    /// can say which process holds the lock (`Collect::lock_holder`).
    HeldBy { dev: u64, ino: u64 },
}

/// Which events to read back.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub port: Option<u16>,
}

impl Store {
    /// Opens the database for recording, creating it and its directory if needed. In a
    /// directory other users can write to, a database, journal or lock name that is a symlink
    /// or another user's file is refused (see [`safe_path`]).
    pub fn create(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if dir.exists() && !dir.is_dir() {
                return Err(Error::File {
                    path: dir.to_path_buf(),
                    message: "is not a directory, so the history database cannot be created in it".into(),
                });
            }
            std::fs::create_dir_all(dir).map_err(|e| Error::File {
                path: dir.to_path_buf(),
                message: format!("cannot create the history directory: {e}"),
            })?;
        }
        if path.is_dir() {
            return Err(Error::File {
                path: path.to_path_buf(),
                message: "is a directory, not a history database".into(),
            });
        }
        let shared = guard_shared(path)?;
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        if shared {
            flags |= OpenFlags::SQLITE_OPEN_NOFOLLOW;
        }
        Store::open_with(path, flags)
    }

    /// Opens an existing database for reading; a missing file is "nothing recorded yet". The
    /// connection is read-only: reading the history never creates or changes a file.
    pub fn open(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(Error::NotFound(format!(
                "{}: no history yet; `portscope watch` records it",
                path.display()
            )));
        }
        Store::open_with(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
    }

    fn open_with(path: &Path, flags: OpenFlags) -> Result<Store> {
        let fail = |e: rusqlite::Error| db_error(path, e);
        if path.is_dir() {
            return Err(Error::File {
                path: path.to_path_buf(),
                message: "is a directory, not a history database".into(),
            });
        }
        let conn =
            Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(fail)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(fail)?;
        // The first read of the header: this is where a file that is not SQLite is refused.
        let app_id: i32 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(fail)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(fail)?;
        if app_id != schema::APPLICATION_ID && (app_id != 0 || version != 0 || has_tables(&conn)) {
            return Err(Error::File {
                path: path.to_path_buf(),
                message: "is a SQLite database, but not portscope's history".into(),
            });
        }
        let read_only = flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY);
        if read_only {
            let known = schema::MIGRATIONS.len() as i64;
            if version == 0 {
                return Err(Error::NotFound(format!(
                    "{}: no history yet; `portscope watch` records it",
                    path.display()
                )));
            }
            if version != known {
                return Err(Error::File {
                    path: path.to_path_buf(),
                    message: if version > known {
                        format!(
                            "written by a newer portscope (schema version {version}; this one knows up to {known})"
                        )
                    } else {
                        format!(
                            "an older history (schema version {version}); run `portscope watch` once to update it"
                        )
                    },
                });
            }
            return Ok(Store {
                conn,
                path: path.to_path_buf(),
                recorder_lock: None,
                skipped: Default::default(),
            });
        }
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .map_err(fail)?;
        if !mode.eq_ignore_ascii_case("wal") {
            conn.pragma_update(None, "journal_mode", "WAL").map_err(fail)?;
        }
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(fail)?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            recorder_lock: None,
            skipped: Default::default(),
        };
        store.migrate(version)?;
        Ok(store)
    }

    /// Makes this process the database's only recorder: two watchers recording the same
    /// machine into one file would store every event twice. The claim is an advisory lock on
    /// `PATH.lock` (SQLite's own locks are per transaction), released when the process exits,
    /// however it exits.
    pub fn claim_recorder(&mut self) -> Result<Claim> {
        use std::io::{Seek, Write};
        use std::os::unix::fs::MetadataExt;
        if self.recorder_lock.is_some() {
            return Ok(Claim::Claimed);
        }
        let lock_path = lock_path(&self.path);
        let failed = |e: std::io::Error| Error::File {
            path: lock_path.clone(),
            message: format!("cannot lock the history for recording: {e}"),
        };
        // The lock belongs to whoever owns the database (or to us): a lock another user created
        // is one they could hold to stop root's watcher from recording.
        let db_owner = std::fs::metadata(&self.path).map_err(failed)?.uid();
        let me = rustix::process::geteuid().as_raw();
        let mut file =
            safe_path::open_private(&lock_path, 0o600, me, "history lock").or_else(|e| match e {
                Error::Refused(_) if db_owner != me => {
                    safe_path::open_private(&lock_path, 0o600, db_owner, "history lock")
                }
                other => Err(other),
            })?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let meta = file.metadata().map_err(failed)?;
                return Ok(Claim::HeldBy {
                    dev: meta.dev(),
                    ino: meta.ino(),
                });
            }
            Err(e) => return Err(failed(e.into())),
        }
        file.set_len(0).map_err(failed)?;
        file.rewind().map_err(failed)?;
        write!(file, "{}", std::process::id()).map_err(failed)?;
        self.recorder_lock = Some(file);
        Ok(Claim::Claimed)
    }

    /// Whether this store holds the recorder's lock.
    pub fn is_recorder(&self) -> bool {
        self.recorder_lock.is_some()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn migrate(&mut self, version: i64) -> Result<()> {
        let known = schema::MIGRATIONS.len() as i64;
        if version > known {
            return Err(Error::File {
                path: self.path.clone(),
                message: format!(
                    "written by a newer portscope (schema version {version}; this one knows up to {known})"
                ),
            });
        }
        let path = self.path.clone();
        let fail = |e: rusqlite::Error| db_error(&path, e);
        for (index, sql) in schema::MIGRATIONS
            .iter()
            .enumerate()
            .skip(version.max(0) as usize)
        {
            let tx = self.conn.transaction().map_err(fail)?;
            tx.execute_batch(sql).map_err(fail)?;
            tx.pragma_update(None, "application_id", schema::APPLICATION_ID)
                .map_err(fail)?;
            tx.pragma_update(None, "user_version", index as i64 + 1)
                .map_err(fail)?;
            tx.commit().map_err(fail)?;
        }
        Ok(())
    }

    /// Writes one event in one transaction.
    pub fn record(&mut self, event: &Event) -> Result<()> {
        let path = self.path.clone();
        let fail = |e: rusqlite::Error| db_error(&path, e);
        let tx = self.conn.transaction().map_err(fail)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (time_ms, kind, protocol, address, port, remote,
                        pid, program, exe, uid, user, unit,
                        previous_pid, previous_program, previous_exe, previous_uid, previous_user,
                        previous_unit, at_start)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
                        ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
                )
                .map_err(fail)?;
            let owner = OwnerColumns::of(&event.owner);
            let previous = OwnerColumns::of(&event.previous);
            insert
                .execute(params![
                    event.time_ms,
                    event.kind.as_str(),
                    event.key.protocol.as_str(),
                    event.key.address.to_string(),
                    event.key.port,
                    event.key.remote.map(|r| r.to_string()).unwrap_or_default(),
                    owner.pid,
                    owner.program,
                    owner.exe,
                    owner.uid,
                    owner.user,
                    owner.unit,
                    previous.pid,
                    previous.program,
                    previous.exe,
                    previous.uid,
                    previous.user,
                    previous.unit,
                    event.at_start,
                ])
                .map_err(fail)?;
        }
        tx.commit().map_err(fail)
    }

    /// The ports the history says are open now: the last event of each port, unless it closed.
    /// Connections are included only when `connections`, to match what a watcher follows.
    pub fn open_ports(&self, connections: bool) -> Result<PortTable> {
        let fail = |e: rusqlite::Error| db_error(&self.path, e);
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM events e
                 JOIN (SELECT max(id) AS id FROM events GROUP BY port, protocol, address, remote) last
                   ON e.id = last.id
                 WHERE e.kind != 'closed'"
            ))
            .map_err(fail)?;
        let rows = stmt.query_map([], event_from_row).map_err(fail)?;
        let mut table = PortTable::default();
        for row in rows {
            let Some(event) = self.readable(row)? else {
                continue;
            };
            if event.key.is_listener() || connections {
                table.ports.insert(event.key, event.owner);
            }
        }
        Ok(table)
    }

    /// Every event that matches `filter`, oldest first.
    pub fn events(&self, filter: &Filter) -> Result<Vec<Event>> {
        let fail = |e: rusqlite::Error| db_error(&self.path, e);
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM events e WHERE (?1 IS NULL OR e.port = ?1) ORDER BY e.id"
            ))
            .map_err(fail)?;
        let rows = stmt
            .query_map(params![filter.port], event_from_row)
            .map_err(fail)?;
        let mut events = Vec::new();
        for row in rows {
            events.extend(self.readable(row)?);
        }
        Ok(events)
    }

    /// How many events the database holds.
    pub fn count(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .map_err(|e| db_error(&self.path, e))
    }

    /// SQLite's own consistency check; `Ok` when the file is sound.
    pub fn integrity_check(&self) -> Result<()> {
        let verdict: Option<String> = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .optional()
            .map_err(|e| db_error(&self.path, e))?;
        match verdict.as_deref() {
            Some("ok") => Ok(()),
            other => Err(self.corrupt(format!(
                "integrity check failed: {}",
                other.unwrap_or("no answer")
            ))),
        }
    }

    /// How many rows the reads so far skipped because they could not be read.
    pub fn skipped_rows(&self) -> usize {
        self.skipped.get()
    }

    /// One row's event, or `None` (counted) when the row holds values this version cannot read:
    /// one bad row must not hide the rest of the history. A damaged file (SQLite's own error)
    /// is still an error.
    fn readable(&self, row: rusqlite::Result<Result<Event, String>>) -> Result<Option<Event>> {
        match row {
            Ok(Ok(event)) => Ok(Some(event)),
            Ok(Err(_))
            | Err(
                rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::IntegralValueOutOfRange(..),
            ) => {
                self.skipped.set(self.skipped.get() + 1);
                Ok(None)
            }
            Err(e) => Err(db_error(&self.path, e)),
        }
    }

    fn corrupt(&self, message: String) -> Error {
        Error::File {
            path: self.path.clone(),
            message,
        }
    }
}

/// `PATH.lock`, the recorder's lock file.
fn lock_path(path: &Path) -> PathBuf {
    let mut lock = path.to_path_buf().into_os_string();
    lock.push(".lock");
    PathBuf::from(lock)
}

/// Checks the database's name and every file SQLite and the lock put beside it when the
/// directory is shared with other users; in such a directory, also creates them first without
/// following links, so that no name is left for another user to plant. Returns whether the
/// directory is shared.
fn guard_shared(path: &Path) -> Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let shared =
        std::fs::metadata(safe_path::parent_of(path)).is_ok_and(|m| m.permissions().mode() & 0o022 != 0);
    if !shared {
        return Ok(false);
    }
    let me = rustix::process::geteuid().as_raw();
    let mut names = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm", "-journal", ".lock"] {
        let mut name = path.to_path_buf().into_os_string();
        name.push(suffix);
        names.push(PathBuf::from(name));
    }
    for name in &names {
        safe_path::check_shared(name, "history database")?;
    }
    // The database, its WAL and shared-memory files: created now, so SQLite only ever opens files
    // that are ours. (The rollback journal is not used in WAL mode.)
    for name in &names[..3] {
        safe_path::open_private(name, 0o600, me, "history database")?;
    }
    Ok(true)
}

fn has_tables(conn: &Connection) -> bool {
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))
        .map_or(true, |n| n > 0)
}

/// One line a user can act on, for anything SQLite refuses.
fn db_error(path: &Path, err: rusqlite::Error) -> Error {
    let message = match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            "not a history database (the file is not SQLite, or is damaged)".into()
        }
        Some(ErrorCode::DatabaseCorrupt) => "the history database is damaged".into(),
        Some(ErrorCode::CannotOpen) => {
            "cannot open the history database (does its directory exist, and may this user write there?)"
                .into()
        }
        Some(ErrorCode::ReadOnly) | Some(ErrorCode::PermissionDenied) => {
            "the history database is read-only for this user".into()
        }
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            "the history database is locked by another process".into()
        }
        Some(ErrorCode::DiskFull) => "the disk is full; the history database cannot grow".into(),
        _ => format!("history database error: {err}"),
    };
    Error::File {
        path: path.to_path_buf(),
        message,
    }
}

/// The owner's columns, all NULL when there is no owner.
struct OwnerColumns {
    pid: Option<u32>,
    program: Option<String>,
    /// Text when the path is UTF-8, a blob of its exact bytes otherwise.
    exe: Option<rusqlite::types::Value>,
    uid: Option<u32>,
    user: Option<String>,
    unit: Option<String>,
}

impl OwnerColumns {
    fn of(owner: &Option<Owner>) -> OwnerColumns {
        OwnerColumns {
            pid: owner.as_ref().map(|o| o.pid),
            program: owner.as_ref().map(|o| o.program.clone()),
            exe: owner
                .as_ref()
                .and_then(|o| o.exe.as_ref())
                .map(|e| match e.to_str() {
                    Some(text) => rusqlite::types::Value::Text(text.to_string()),
                    None => rusqlite::types::Value::Blob(e.as_os_str().as_encoded_bytes().to_vec()),
                }),
            uid: owner.as_ref().map(|o| o.uid),
            user: owner.as_ref().and_then(|o| o.user.clone()),
            unit: owner.as_ref().and_then(|o| o.unit.clone()),
        }
    }
}

const COLUMNS: &str = "e.time_ms, e.kind, e.protocol, e.address, e.port, e.remote,
    e.pid, e.program, e.exe, e.uid, e.user, e.unit,
    e.previous_pid, e.previous_program, e.previous_exe, e.previous_uid, e.previous_user, e.previous_unit,
    e.at_start";

/// Reads one row of [`COLUMNS`]; the inner error names a value this version cannot read.
fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Event, String>> {
    let kind: String = row.get(1)?;
    let protocol: String = row.get(2)?;
    let address: String = row.get(3)?;
    let remote: String = row.get(5)?;
    let Some(kind) = EventKind::parse(&kind) else {
        return Ok(Err(format!("unknown event kind {kind:?}")));
    };
    let protocol = match protocol.as_str() {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => Protocol::Sctp,
        other => return Ok(Err(format!("unknown protocol {other:?}"))),
    };
    let Ok(address) = address.parse::<IpAddr>() else {
        return Ok(Err(format!("bad address {address:?}")));
    };
    let remote = if remote.is_empty() {
        None
    } else {
        match remote.parse::<std::net::SocketAddr>() {
            Ok(sa) => Some(Endpoint::new(sa.ip(), sa.port())),
            Err(_) => return Ok(Err(format!("bad remote address {remote:?}"))),
        }
    };
    Ok(Ok(Event {
        time_ms: row.get(0)?,
        kind,
        key: PortKey {
            protocol,
            address,
            port: row.get(4)?,
            remote,
            netns: 0,
        },
        owner: owner_from_row(row, 6)?,
        previous: owner_from_row(row, 12)?,
        at_start: row.get(18)?,
    }))
}

fn owner_from_row(row: &Row<'_>, at: usize) -> rusqlite::Result<Option<Owner>> {
    let pid: Option<u32> = row.get(at)?;
    let Some(pid) = pid else { return Ok(None) };
    let exe = match row.get::<_, rusqlite::types::Value>(at + 2)? {
        rusqlite::types::Value::Text(text) => Some(PathBuf::from(text)),
        rusqlite::types::Value::Blob(bytes) => Some(PathBuf::from(
            <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(bytes),
        )),
        _ => None,
    };
    Ok(Some(Owner {
        pid,
        program: row.get::<_, Option<String>>(at + 1)?.unwrap_or_default(),
        exe,
        uid: row.get::<_, Option<u32>>(at + 3)?.unwrap_or(0),
        user: row.get(at + 4)?,
        unit: row.get(at + 5)?,
    }))
}
