//! The history database's schema, as an ordered list of migrations.
//!
//! `PRAGMA user_version` holds how many migrations a database has had. Opening a database applies
//! the missing ones, each in its own transaction together with the version bump, so a database is
//! always at exactly one version. Append new migrations; never edit a released one.

/// Marks the file as portscope's ("PSCP"), so another program's SQLite file is refused.
pub const APPLICATION_ID: i32 = 0x5053_4350;

pub const MIGRATIONS: &[&str] = &[
    // 1: the event log. `remote` is '' for a listening port, so the port's identity is a plain
    // column tuple that an index can serve.
    "CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        time_ms INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('opened', 'closed', 'owner_changed')),
        protocol TEXT NOT NULL,
        address TEXT NOT NULL,
        port INTEGER NOT NULL,
        remote TEXT NOT NULL DEFAULT '',
        pid INTEGER,
        program TEXT,
        exe TEXT,
        uid INTEGER,
        user TEXT,
        unit TEXT,
        previous_pid INTEGER,
        previous_program TEXT,
        previous_exe TEXT,
        previous_uid INTEGER,
        previous_user TEXT,
        previous_unit TEXT,
        at_start INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX events_by_time ON events (time_ms);
    CREATE INDEX events_by_port ON events (port, protocol, address, remote);",
    // 2: the network namespace of a port that is not the recorder's own: its inode (0 for the
    // recorder's own, what every row of a version-1 database is), and its name and kind as the
    // watcher saw them. The same port in two namespaces is two ports.
    "ALTER TABLE events ADD COLUMN netns INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE events ADD COLUMN netns_name TEXT;
    ALTER TABLE events ADD COLUMN netns_kind TEXT;
    DROP INDEX events_by_port;
    CREATE INDEX events_by_port ON events (port, protocol, address, remote, netns);",
    // 3: what saw the change ('poll' or 'event', a kernel event) and whether the port opened and
    // closed between two polls (only an event saw it).
    "ALTER TABLE events ADD COLUMN source TEXT NOT NULL DEFAULT 'poll';
    ALTER TABLE events ADD COLUMN short_lived INTEGER NOT NULL DEFAULT 0;",
    // 4: scan alerts (`watch` with kernel events): one row per burst of refused connections
    // from one source. `protocols` is the protocols' names joined by '+'.
    "CREATE TABLE scans (
        id INTEGER PRIMARY KEY,
        first_ms INTEGER NOT NULL,
        last_ms INTEGER NOT NULL,
        netns INTEGER NOT NULL,
        source TEXT NOT NULL,
        protocols TEXT NOT NULL,
        ports INTEGER NOT NULL,
        probes INTEGER NOT NULL,
        lowest_port INTEGER NOT NULL,
        highest_port INTEGER NOT NULL
    );
    CREATE INDEX scans_by_time ON scans (last_ms);",
];
