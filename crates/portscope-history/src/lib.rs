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

pub use spans::{Span, Spans, spans};

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Row, params};

use portscope_core::error::{Error, Result};
use std::sync::Arc;

use portscope_core::model::{Endpoint, Netns, NetnsKind, Protocol};
use portscope_core::watch::{self, Event, EventKind, Owner, PortKey, PortTable};

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
    /// Events a damaged file lost to the reads so far: how many ids were skipped over, and the
    /// first and last of them.
    lost: std::cell::Cell<Option<(i64, i64, i64)>>,
    /// The schema version the reads are written for: a version-1 database opened read-only
    /// has no namespace columns, and reads every port as the recorder's own namespace's.
    version: i64,
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
        // SQLite would open a FIFO and wait for a writer forever.
        safe_path::check_no_fifo(path, "history database")?;
        let read_only = flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY);
        let (conn, app_id, version) = match connect(path, flags) {
            // Reading a WAL database needs its -shm file, which a reader that may not write in
            // the directory (another user, a read-only mount) cannot create: read the file
            // as it is instead (immutable: SQLite neither locks nor creates anything).
            Err(e)
                if read_only
                    && matches!(
                        e.sqlite_error_code(),
                        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied)
                    ) =>
            {
                let uri = immutable_uri(path);
                connect(Path::new(&uri), flags | OpenFlags::SQLITE_OPEN_URI).map_err(|_| fail(e))?
            }
            other => other.map_err(fail)?,
        };
        if app_id != schema::APPLICATION_ID && (app_id != 0 || version != 0 || has_tables(&conn)) {
            return Err(Error::File {
                path: path.to_path_buf(),
                message: "is a SQLite database, but not portscope's history".into(),
            });
        }
        if read_only {
            let known = schema::MIGRATIONS.len() as i64;
            if version == 0 {
                return Err(Error::NotFound(format!(
                    "{}: no history yet; `portscope watch` records it",
                    path.display()
                )));
            }
            if version > known {
                return Err(Error::File {
                    path: path.to_path_buf(),
                    message: format!(
                        "written by a newer portscope (schema version {version}; this one knows up to {known})"
                    ),
                });
            }
            // An older schema is read as it is (reading never changes the file); the next
            // `portscope watch` migrates it.
            return Ok(Store {
                conn,
                path: path.to_path_buf(),
                recorder_lock: None,
                skipped: Default::default(),
                lost: Default::default(),
                version,
            });
        }
        // A file `history` would call damaged is not recorded into: new events there could be
        // lost with the rest, and growing it spreads the damage. SQLite's quick check reads
        // every page once (a second for millions of events), at start only.
        if version > 0 {
            let verdict: String = conn
                .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
                .unwrap_or_else(|_| "unreadable".into());
            if verdict != "ok" {
                return Err(Error::File {
                    path: path.to_path_buf(),
                    message: "the history database is damaged; not recording into it (`portscope history` shows what is readable; move the file aside to start a new one)".into(),
                });
            }
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
            lost: Default::default(),
            version: schema::MIGRATIONS.len() as i64,
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
        let db_owner = file_owner(&std::fs::metadata(&self.path).map_err(failed)?);
        let me = safe_path::effective_uid();
        // A lock file others could open (an older portscope made it 0644) may be held open by
        // another user, and an flock taken through that descriptor outlives any chmod: replace
        // the file, so that their lock is on a name nobody uses any more.
        if let Ok(meta) = std::fs::symlink_metadata(&lock_path)
            && meta.is_file()
            && others_may_open(&meta)
        {
            std::fs::remove_file(&lock_path).map_err(failed)?;
        }
        let mut file =
            safe_path::open_private(&lock_path, 0o600, me, "history lock").or_else(|e| match e {
                Error::Refused(_) if db_owner != me => {
                    safe_path::open_private(&lock_path, 0o600, db_owner, "history lock")
                }
                other => Err(other),
            })?;
        if let Some(held) = try_lock(&file).map_err(failed)? {
            return Ok(held);
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

    /// Writes one scan alert (a burst of refused connections from one source).
    pub fn record_scan(&mut self, alert: &watch::probes::ScanAlert) -> Result<()> {
        let path = self.path.clone();
        let protocols: Vec<&str> = alert.protocols.iter().map(|p| p.as_str()).collect();
        self.conn
            .execute(
                "INSERT INTO scans (first_ms, last_ms, netns, source, protocols, ports, probes,
                    lowest_port, highest_port) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    alert.first_ms,
                    alert.last_ms,
                    alert.netns as i64,
                    alert.source.to_string(),
                    protocols.join("+"),
                    alert.ports,
                    alert.probes as i64,
                    alert.lowest_port,
                    alert.highest_port,
                ],
            )
            .map_err(|e| db_error(&path, e))?;
        Ok(())
    }

    /// The scan alerts that ended at or after `since_ms`, oldest first, at most [`MAX_SCANS`]
    /// (the newest); none in a database older than the scans table. A row this version cannot
    /// read is skipped.
    pub fn scans(&self, since_ms: Option<i64>) -> Result<Vec<watch::probes::ScanAlert>> {
        if self.version < 4 {
            return Ok(Vec::new());
        }
        let fail = |e| db_error(&self.path, e);
        let mut statement = self
            .conn
            .prepare(
                "SELECT first_ms, last_ms, netns, source, protocols, ports, probes, lowest_port,
                    highest_port FROM (SELECT * FROM scans WHERE last_ms >= ?1
                    ORDER BY id DESC LIMIT ?2) ORDER BY id",
            )
            .map_err(fail)?;
        let rows = statement
            .query_map(params![since_ms.unwrap_or(i64::MIN), MAX_SCANS], |row| {
                let source: String = row.get(3)?;
                let protocols: String = row.get(4)?;
                Ok(source
                    .parse::<IpAddr>()
                    .ok()
                    .map(|source| watch::probes::ScanAlert {
                        first_ms: row.get(0).unwrap_or_default(),
                        last_ms: row.get(1).unwrap_or_default(),
                        netns: row.get::<_, i64>(2).unwrap_or_default() as u64,
                        source,
                        protocols: protocols
                            .split('+')
                            .filter_map(|p| match p {
                                "tcp" => Some(Protocol::Tcp),
                                "udp" => Some(Protocol::Udp),
                                _ => None,
                            })
                            .collect(),
                        ports: row.get(5).unwrap_or_default(),
                        probes: row.get::<_, i64>(6).unwrap_or_default() as u64,
                        lowest_port: row.get(7).unwrap_or_default(),
                        highest_port: row.get(8).unwrap_or_default(),
                    }))
            })
            .map_err(fail)?;
        let mut alerts = Vec::new();
        for row in rows {
            alerts.extend(row.map_err(fail)?);
        }
        Ok(alerts)
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
                        previous_unit, at_start, netns, netns_name, netns_kind, source, short_lived)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
                        ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
                )
                .map_err(fail)?;
            let owner = OwnerColumns::of(&event.owner);
            let netns = watch::netns_for(&event.key, event.netns.as_ref());
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
                    // SQLite integers are signed; an inode above i64::MAX keeps its bits.
                    event.key.netns as i64,
                    netns.as_ref().and_then(|n| n.name.clone()),
                    netns.as_ref().map(|n| netns_kind_text(n.kind)),
                    event.source.as_str(),
                    event.short_lived,
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
                "SELECT {columns} FROM events e
                 JOIN (SELECT max(id) AS id FROM events GROUP BY port, protocol, address, remote{netns}) last
                   ON e.id = last.id
                 WHERE e.kind != 'closed'",
                columns = self.columns(),
                netns = if self.version >= 2 { ", netns" } else { "" },
            ))
            .map_err(fail)?;
        let rows = stmt.query_map([], event_from_row).map_err(fail)?;
        let mut table = PortTable::default();
        for row in rows {
            let Some(event) = self.readable(row)? else {
                continue;
            };
            if event.key.is_listener() || connections {
                if let Some(netns) = &event.netns {
                    table.namespaces.insert(netns.inode, Arc::clone(netns));
                }
                table.ports.insert(event.key, event.owner);
            }
        }
        Ok(table)
    }

    /// Every event that matches `filter`, oldest first ([`Store::for_each_event`], collected).
    pub fn events(&self, filter: &Filter) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        self.for_each_event(filter, |event| {
            events.push(event);
            Ok(())
        })?;
        Ok(events)
    }

    /// Passes every event that matches `filter` to `each`, oldest first, one row at a time: a
    /// history of millions of events is read without holding it. In a damaged file, the rows
    /// that can be read are: a damaged stretch is skipped ([`Store::lost_events`] says how
    /// much), so one bad page does not hide 20,000 good events. An error from `each` stops the
    /// read and is returned.
    pub fn for_each_event(&self, filter: &Filter, mut each: impl FnMut(Event) -> Result<()>) -> Result<()> {
        // Ids start at 1; `after` is the last id read (or skipped over).
        let mut after = 0;
        // Each damaged stretch costs a few dozen short queries; past this many, the rest of
        // the file is counted as lost rather than searched.
        let mut stretches = 0u32;
        loop {
            match self.events_after(filter, after, &mut each) {
                Ok(()) => return Ok(()),
                Err(Stop::Each(e)) => return Err(e),
                Err(Stop::Db(last, e)) if is_damage(&e) => {
                    stretches += 1;
                    // Always past the row the scan failed on (a probe may read a row the scan
                    // cannot reach), so every round moves on.
                    let resume = (stretches <= 10_000)
                        .then(|| self.readable_after(last))
                        .flatten()
                        .map(|next| next.max(last + 2));
                    // With the last id unknown too, the loss is open-ended (i64::MAX).
                    let upto = resume.map_or_else(|| self.max_id().unwrap_or(i64::MAX), |next| next - 1);
                    self.note_lost(last + 1, upto.max(last + 1));
                    match resume {
                        Some(next) => after = next - 1,
                        None => return Ok(()),
                    }
                }
                Err(Stop::Db(_, e)) => return Err(db_error(&self.path, e)),
            }
        }
    }

    /// Passes the events with an id above `after` to `each`; on a database error, the last id
    /// read.
    fn events_after(
        &self,
        filter: &Filter,
        after: i64,
        each: &mut impl FnMut(Event) -> Result<()>,
    ) -> std::result::Result<(), Stop> {
        let mut last = after;
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {columns}, e.id FROM events e
                 WHERE (?1 IS NULL OR e.port = ?1) AND e.id > ?2 ORDER BY e.id",
                columns = self.columns(),
            ))
            .map_err(|e| Stop::Db(last, e))?;
        let mut rows = stmt
            .query(params![filter.port, after])
            .map_err(|e| Stop::Db(last, e))?;
        loop {
            let row = match rows.next() {
                Ok(Some(row)) => row,
                Ok(None) => return Ok(()),
                Err(e) => return Err(Stop::Db(last, e)),
            };
            let id_column = row.as_ref().column_count() - 1;
            last = row.get(id_column).map_err(|e| Stop::Db(last, e))?;
            match event_from_row(row) {
                Err(e) if !is_conversion(&e) => return Err(Stop::Db(last, e)),
                // Only a conversion error is left, which `readable` counts and skips.
                other => {
                    if let Some(event) = self.readable(other).ok().flatten() {
                        each(event).map_err(Stop::Each)?;
                    }
                }
            }
        }
    }

    /// The first id above `after` from which rows can be read again, found by probing ever
    /// further (1, 2, 4, … ids on) and then narrowing down: at most a few dozen short queries
    /// per damaged stretch. `None` when nothing after it can be read.
    fn readable_after(&self, after: i64) -> Option<i64> {
        let max = self.max_id().unwrap_or(i64::MAX);
        let mut bad = after;
        let mut step: i64 = 1;
        let mut good = loop {
            let at = bad.checked_add(step).filter(|&at| at <= max)?;
            match self.probe(at) {
                Probe::Row(_) => break at,
                Probe::Damaged => {
                    bad = at;
                    step = step.saturating_mul(2);
                }
                Probe::End => return None,
            }
        };
        while good - bad > 1 {
            let mid = bad + (good - bad) / 2;
            match self.probe(mid) {
                Probe::Row(_) => good = mid,
                Probe::Damaged | Probe::End => bad = mid,
            }
        }
        match self.probe(good) {
            Probe::Row(id) => Some(id),
            _ => None,
        }
    }

    /// Whether the first row at or above id `at` can be read whole.
    fn probe(&self, at: i64) -> Probe {
        let sql = format!(
            "SELECT {columns}, e.id FROM events e WHERE e.id >= ?1 ORDER BY e.id LIMIT 1",
            columns = self.columns()
        );
        let read = self.conn.query_row(&sql, params![at], |row| {
            let id: i64 = row.get(row.as_ref().column_count() - 1)?;
            event_from_row(row).map(|_| id)
        });
        match read {
            Ok(id) => Probe::Row(id),
            Err(rusqlite::Error::QueryReturnedNoRows) => Probe::End,
            Err(_) => Probe::Damaged,
        }
    }

    fn max_id(&self) -> Option<i64> {
        self.conn
            .query_row("SELECT max(id) FROM events", [], |r| r.get::<_, Option<i64>>(0))
            .ok()
            .flatten()
    }

    fn note_lost(&self, first: i64, last: i64) {
        let (count, from, to) = self.lost.get().unwrap_or((0, first, last));
        self.lost.set(Some((
            count.saturating_add(last - first + 1),
            from.min(first),
            to.max(last),
        )));
    }

    /// How many events a damaged file lost to the reads so far (ids skipped over, so an upper
    /// bound), with the first and last of those ids (`i64::MAX` when the end is unknown);
    /// `None` when nothing was lost.
    pub fn lost_events(&self) -> Option<(i64, i64, i64)> {
        self.lost.get()
    }

    /// The columns [`event_from_row`] reads, for this database's schema version.
    fn columns(&self) -> String {
        match self.version {
            3.. => format!("{COLUMNS}, e.netns, e.netns_name, e.netns_kind, e.source, e.short_lived"),
            2 => format!("{COLUMNS}, e.netns, e.netns_name, e.netns_kind, 'poll', 0"),
            _ => format!("{COLUMNS}, 0, NULL, NULL, 'poll', 0"),
        }
    }

    /// How many events the database holds.
    pub fn count(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .map_err(|e| db_error(&self.path, e))
    }

    /// Whether the database holds no event (a watcher created it and nothing changed yet).
    pub fn is_empty(&self) -> Result<bool> {
        self.conn
            .query_row("SELECT NOT EXISTS (SELECT 1 FROM events)", [], |r| r.get(0))
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
            Ok(Err(_)) => {
                self.skipped.set(self.skipped.get() + 1);
                Ok(None)
            }
            Err(e) if is_conversion(&e) => {
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

/// What reading from one id on found.
enum Probe {
    Row(i64),
    Damaged,
    End,
}

/// Whether an error is a row's value this version cannot read (not the file's damage).
fn is_conversion(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
    )
}

/// Whether an error is SQLite finding the file damaged (rather than, say, a full disk).
fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

/// Opens a connection and reads the header's application id and schema version: the first
/// read, where a file that is not SQLite is refused.
fn connect(path: &Path, flags: OpenFlags) -> rusqlite::Result<(Connection, i32, i64)> {
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let app_id: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    Ok((conn, app_id, version))
}

/// `file:PATH?immutable=1`, the path percent-encoded (a `?` or `#` in it is part of the name).
fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for &byte in path.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            uri.push(byte as char);
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// `PATH.lock`, the recorder's lock file.
/// Takes the recorder's lock without waiting: `None` when taken, the holder's claim when another
/// process holds it. An flock on Unix; on Windows the standard library's `LockFileEx`, and the
/// claim names no file (device and inode 0: the platform cannot name the holder from them).
#[cfg(unix)]
fn try_lock(file: &std::fs::File) -> std::io::Result<Option<Claim>> {
    use std::os::unix::fs::MetadataExt;
    match rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(None),
        Err(rustix::io::Errno::WOULDBLOCK) => {
            let meta = file.metadata()?;
            Ok(Some(Claim::HeldBy {
                dev: meta.dev(),
                ino: meta.ino(),
            }))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(windows)]
fn try_lock(file: &std::fs::File) -> std::io::Result<Option<Claim>> {
    match file.try_lock() {
        Ok(()) => Ok(None),
        Err(std::fs::TryLockError::WouldBlock) => Ok(Some(Claim::HeldBy { dev: 0, ino: 0 })),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// The file's owner (0 on Windows, where files have no uid; see `safe_path`).
#[cfg(unix)]
fn file_owner(meta: &std::fs::Metadata) -> u32 {
    std::os::unix::fs::MetadataExt::uid(meta)
}

#[cfg(windows)]
fn file_owner(_meta: &std::fs::Metadata) -> u32 {
    0
}

/// Whether users other than the owner may open the file (its mode grants group or others
/// anything). Never on Windows, whose access lists this crate does not read.
#[cfg(unix)]
fn others_may_open(meta: &std::fs::Metadata) -> bool {
    std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 != 0
}

#[cfg(windows)]
fn others_may_open(_meta: &std::fs::Metadata) -> bool {
    false
}

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
    let shared = std::fs::metadata(safe_path::parent_of(path)).is_ok_and(|m| safe_path::others_can_write(&m));
    if !shared {
        return Ok(false);
    }
    let me = safe_path::effective_uid();
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
        Some(ErrorCode::CannotOpen) => cannot_open(path),
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

/// Why SQLite could not open `path`, found out again (SQLite's code alone does not say): no
/// directory, or the system's own reason (too many open files, permission, ...).
fn cannot_open(path: &Path) -> String {
    let dir = safe_path::parent_of(path);
    if !dir.is_dir() {
        return format!(
            "cannot open the history database: {} is not a directory",
            dir.display()
        );
    }
    if let Some(limit) = few_descriptors_left() {
        return format!(
            "cannot open the history database: too many open files (the open-files limit, {limit}, is too low; raise it with ulimit -n)"
        );
    }
    match std::fs::File::open(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            format!("cannot open the history database: {e}")
        }
        _ => "cannot open the history database (may this user write in its directory?)".into(),
    }
}

/// The open-files limit, when this process is within a few descriptors of it: SQLite needs
/// two or three at once, and says only "cannot open" when it runs out.
#[cfg(unix)]
fn few_descriptors_left() -> Option<u64> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current?;
    match std::fs::read_dir("/proc/self/fd") {
        // The listing itself needs one more descriptor.
        Ok(fds) => (fds.count() as u64 + 3 > limit).then_some(limit),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::MFILE.raw_os_error()) => Some(limit),
        Err(_) => None,
    }
}

/// Windows has no descriptor limit of this kind (handles run out much later).
#[cfg(windows)]
fn few_descriptors_left() -> Option<u64> {
    None
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

/// Scan alerts `history --scans` reads at most (the newest).
pub const MAX_SCANS: i64 = 100_000;

const COLUMNS: &str = "e.time_ms, e.kind, e.protocol, e.address, e.port, e.remote,
    e.pid, e.program, e.exe, e.uid, e.user, e.unit,
    e.previous_pid, e.previous_program, e.previous_exe, e.previous_uid, e.previous_user, e.previous_unit,
    e.at_start";

fn netns_kind_text(kind: NetnsKind) -> &'static str {
    match kind {
        NetnsKind::Host => "host",
        NetnsKind::Named => "named",
        NetnsKind::Container => "container",
        NetnsKind::Anonymous => "anonymous",
    }
}

/// The namespace columns of a row: none for the recorder's own namespace (inode 0).
fn netns_from_row(row: &Row<'_>, at: usize) -> rusqlite::Result<Result<Option<Arc<Netns>>, String>> {
    let inode = row.get::<_, i64>(at)? as u64;
    if inode == 0 {
        return Ok(Ok(None));
    }
    let name: Option<String> = row.get(at + 1)?;
    let kind: Option<String> = row.get(at + 2)?;
    let kind = match kind.as_deref() {
        Some("host") => NetnsKind::Host,
        Some("named") => NetnsKind::Named,
        Some("container") => NetnsKind::Container,
        Some("anonymous") | None => NetnsKind::Anonymous,
        Some(other) => return Ok(Err(format!("unknown namespace kind {other:?}"))),
    };
    Ok(Ok(Some(Arc::new(Netns { inode, name, kind }))))
}

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
    let netns = match netns_from_row(row, 19)? {
        Ok(netns) => netns,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(Event {
        time_ms: row.get(0)?,
        kind,
        key: PortKey {
            protocol,
            address,
            port: row.get(4)?,
            remote,
            netns: netns.as_ref().map_or(0, |n| n.inode),
        },
        netns,
        owner: owner_from_row(row, 6)?,
        previous: owner_from_row(row, 12)?,
        at_start: row.get(18)?,
        source: if row.get::<_, String>(22)? == "event" {
            watch::Source::Event
        } else {
            watch::Source::Poll
        },
        short_lived: row.get(23)?,
    }))
}

/// A path stored as the exact bytes of a name that is not UTF-8: Unix names are bytes; on
/// Windows (WTF-8 bytes of a name with an unpaired surrogate) the lost character reads as U+FFFD.
#[cfg(unix)]
fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(
        bytes,
    ))
}

#[cfg(windows)]
fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
}

fn owner_from_row(row: &Row<'_>, at: usize) -> rusqlite::Result<Option<Owner>> {
    let pid: Option<u32> = row.get(at)?;
    let Some(pid) = pid else { return Ok(None) };
    let exe = match row.get::<_, rusqlite::types::Value>(at + 2)? {
        rusqlite::types::Value::Text(text) => Some(PathBuf::from(text)),
        rusqlite::types::Value::Blob(bytes) => Some(path_from_bytes(bytes)),
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

/// Why a read of events stopped: the database failed after the last id read, or the caller's
/// `each` returned an error.
enum Stop {
    Db(i64, rusqlite::Error),
    Each(Error),
}
