//! The library's error type and the exit codes a script can rely on.
//!
//! Every failure reaches the user as one line on stderr (`portscope: …`) and one of the exit codes
//! below; the README's "Exit codes" table is the promise, [`ExitCode`] is its single source.

use std::io;
use std::path::PathBuf;

/// Process exit codes, documented in the README.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Success: the command did what was asked and found nothing to report as a failure.
    Ok = 0,
    /// The command worked and its answer is "yes, something is wrong": an audit finding at or above
    /// `--fail-on`, a baseline check with new listeners, a port that stayed open after `close`.
    Found = 1,
    /// Bad input: a malformed port, range, address, file or flag (clap's own usage errors also exit 2).
    Usage = 2,
    /// The operation needs privileges this user does not have.
    Permission = 3,
    /// The system could not be read or changed (netlink, /proc, a database, a file).
    System = 4,
    /// portscope refused for safety (PID 1, itself, no confirmation, another user's process).
    Refused = 5,
    /// Nothing matched: no socket, port or service by that name.
    NotFound = 6,
}

/// Everything that can go wrong, each with enough context for a one-line message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),

    #[error("{0}")]
    NotFound(String),

    #[error("{what}: permission denied ({hint})")]
    Permission { what: String, hint: String },

    #[error("{0}")]
    Refused(String),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },

    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },

    #[error("{0}")]
    Parse(#[from] ParseError),

    #[error("{0}")]
    System(String),
}

impl Error {
    /// Wraps an I/O error with what was being done, mapping EACCES/EPERM to a permission error.
    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        let context = context.into();
        match source.kind() {
            io::ErrorKind::PermissionDenied => Error::Permission {
                what: context,
                hint: crate::privilege::ELEVATE.into(),
            },
            _ => Error::Io { context, source },
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::Usage,
            Error::NotFound(_) => ExitCode::NotFound,
            Error::Permission { .. } => ExitCode::Permission,
            Error::Refused(_) => ExitCode::Refused,
            Error::Io { .. } | Error::File { .. } | Error::Parse(_) | Error::System(_) => ExitCode::System,
        }
    }
}

/// A parser's refusal of malformed or truncated input. Parsers return this instead of panicking,
/// so the live system, fixtures and the fuzzer all drive the same code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{what}: truncated ({got} of {needed} bytes)")]
    Truncated {
        what: &'static str,
        needed: usize,
        got: usize,
    },
    #[error("{what}: malformed ({detail})")]
    Malformed { what: &'static str, detail: String },
}

impl ParseError {
    pub fn malformed(what: &'static str, detail: impl Into<String>) -> ParseError {
        ParseError::Malformed {
            what,
            detail: detail.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Writing to stdout or stderr failed (most often a closed pipe).
impl From<io::Error> for Error {
    fn from(source: io::Error) -> Error {
        Error::Io {
            context: "writing output".into(),
            source,
        }
    }
}
