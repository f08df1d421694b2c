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
];
