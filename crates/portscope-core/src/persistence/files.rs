//! The files the platform hands to the persistence search: what it read, the links it found
//! beside them and what it skipped. Plain data, so that the platform traits can name it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where a launcher file lives, which decides how it is parsed and how its entry is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A system unit or drop-in (/etc/systemd/system, /run/systemd/system,
    /// /usr/lib/systemd/system, /lib/systemd/system).
    SystemUnit,
    /// A user's own unit (~/.config/systemd/user).
    UserUnit,
    /// A unit for every user's manager (/etc/systemd/user, /usr/lib/systemd/user).
    GlobalUserUnit,
    /// /etc/crontab and /etc/cron.d/*: the sixth field names the user.
    SystemCrontab,
    /// A user's crontab (/var/spool/cron/crontabs/USER): the file name is the user.
    UserCrontab,
    /// A script run-parts runs (/etc/cron.{hourly,daily,weekly,monthly}/*).
    CronPeriodic,
    /// /etc/rc.local.
    RcLocal,
    /// An XDG autostart entry (/etc/xdg/autostart/*.desktop, ~/.config/autostart/*.desktop).
    Autostart,
    /// A login shell's profile (/etc/profile, /etc/profile.d/*, /etc/bash.bashrc, ~/.bashrc,
    /// ~/.profile, ~/.bash_profile, ~/.zshrc).
    ShellProfile,
    /// A script one of the entries above runs (read in a second pass).
    Script,
}

impl Kind {
    /// How a person names the kind in a sentence.
    pub fn label(self) -> &'static str {
        match self {
            Kind::SystemUnit => "systemd unit",
            Kind::UserUnit => "user systemd unit",
            Kind::GlobalUserUnit => "systemd unit of every user",
            Kind::SystemCrontab => "cron",
            Kind::UserCrontab => "user crontab",
            Kind::CronPeriodic => "cron script",
            Kind::RcLocal => "rc.local",
            Kind::Autostart => "XDG autostart",
            Kind::ShellProfile => "shell profile",
            Kind::Script => "script",
        }
    }

    pub fn is_unit(self) -> bool {
        matches!(self, Kind::SystemUnit | Kind::UserUnit | Kind::GlobalUserUnit)
    }
}

/// One candidate file as the platform read it: its path on the host (never under a test root),
/// the user it belongs to when it is per-user, and its bytes (bounded).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// In a fixture's `[[scripts]]`, `script` unless written.
    #[serde(default = "script_kind")]
    pub kind: Kind,
    pub path: PathBuf,
    #[serde(default)]
    pub user: Option<String>,
    /// In a fixture, written as `text`.
    #[serde(default, rename = "text", deserialize_with = "bytes_from_text")]
    pub bytes: Vec<u8>,
}

fn script_kind() -> Kind {
    Kind::Script
}

fn bytes_from_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    String::deserialize(d).map(String::into_bytes)
}

/// A symbolic link found where launchers live: not followed, but recorded — a unit linked from a
/// `*.wants` directory is enabled, one linked to /dev/null is masked.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Link {
    pub kind: Kind,
    pub path: PathBuf,
    pub target: PathBuf,
    #[serde(default)]
    pub user: Option<String>,
}

/// A file the platform did not read, and why (a FIFO, a device, a link, too large, no
/// permission, a bound reached).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    pub why: String,
}

/// What the platform read: the candidate files, the links beside them, what it skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Files {
    #[serde(default)]
    pub files: Vec<File>,
    #[serde(default)]
    pub links: Vec<Link>,
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

pub(crate) fn lossy_path<S: serde::Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}
