//! `--web-config FILE`: TLS and basic authentication, in the format of Prometheus's
//! exporter-toolkit (`web-config.yml`), so one file serves node_exporter and portscope alike.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: /etc/portscope/tls.crt     # relative paths are relative to this file
//!   key_file: /etc/portscope/tls.key
//! basic_auth_users:
//!   prometheus: $2y$10$...                # bcrypt, as `htpasswd -nBC 10 prometheus` prints
//! ```
//!
//! Settings this exporter does not implement (client certificates, cipher choices, HTTP
//! headers) are refused by name rather than ignored: a security setting that silently does
//! nothing is worse than an error.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use serde::Deserialize;

use crate::http::{Authorizer, Conn, ReadWrite, Wrapper};

/// The parsed file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    pub tls_server_config: Option<TlsFiles>,
    /// User name → bcrypt hash of the password.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
}

/// Where the server's certificate chain and key are (PEM).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl WebConfig {
    /// Parses the YAML text of the file at `path` (relative paths inside are resolved against
    /// its directory).
    pub fn parse(text: &str, path: &Path) -> Result<WebConfig, String> {
        let mut config: WebConfig = if text.trim().is_empty() {
            WebConfig::default()
        } else {
            // serde quotes what it rejects (`unknown field \`...\``), which may be a whole line
            // of whatever file the path points at: keep it to a short escaped token.
            serde_yaml_ng::from_str(text).map_err(|e| portscope_core::render::clip_quoted(&e.to_string()))?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(tls) = &mut config.tls_server_config {
            tls.cert_file = base.join(&tls.cert_file);
            tls.key_file = base.join(&tls.key_file);
        }
        for (user, hash) in &config.basic_auth_users {
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(format!(
                    "basic_auth_users: the password of {user:?} is not a bcrypt hash"
                ));
            }
        }
        Ok(config)
    }

    /// The TLS server configuration from the certificate and key files, read through `read`
    /// (the caller's file policy: bounded, regular files only, not writable by others).
    pub fn tls(&self, read: impl Fn(&Path, &str) -> Result<Vec<u8>, String>) -> Result<Option<Tls>, String> {
        let Some(files) = &self.tls_server_config else {
            return Ok(None);
        };
        let cert_pem = read(&files.cert_file, "certificate file")?;
        let certs = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", files.cert_file.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: no certificate in it", files.cert_file.display()));
        }
        let key_pem = read(&files.key_file, "key file")?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| format!("{}: {e}", files.key_file.display()))?;
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .map_err(|e| format!("{}: {e}", files.key_file.display()))?;
        Ok(Some(Tls(Arc::new(config))))
    }

    /// The basic-auth check, when users are configured.
    pub fn auth(&self) -> Option<BasicAuth> {
        (!self.basic_auth_users.is_empty()).then(|| BasicAuth {
            users: self.basic_auth_users.clone(),
            verified: Mutex::new(HashSet::new()),
            refused: Mutex::new(HashSet::new()),
            checking: Mutex::new(()),
            hasher: RandomState::new(),
        })
    }
}

/// TLS over each accepted connection (rustls; TLS 1.2 and 1.3).
pub struct Tls(Arc<rustls::ServerConfig>);

impl Wrapper for Tls {
    fn serve(&self, stream: Conn, handler: &dyn Fn(&mut dyn ReadWrite)) {
        let Ok(connection) = rustls::ServerConnection::new(self.0.clone()) else {
            return;
        };
        let mut tls = rustls::StreamOwned::new(connection, stream);
        handler(&mut tls);
        tls.conn.send_close_notify();
        let _ = tls.flush();
    }
}

/// Basic authentication against bcrypt hashes. bcrypt is slow on purpose (~50 ms at cost 10),
/// so every answer is remembered (as a keyed hash of user and password, never the password):
/// Prometheus's scrapes after the first cost nothing, and neither does a wrong password sent
/// again. One check runs at a time, so guessing can take at most one core whatever the number
/// of connections; how many guesses a source may make is the server's to limit.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    verified: Mutex<HashSet<u64>>,
    refused: Mutex<HashSet<u64>>,
    checking: Mutex<()>,
    hasher: RandomState,
}

/// Remembered logins, successful and failed, at most each.
const MAX_REMEMBERED: usize = 1024;

impl BasicAuth {
    fn key(&self, user: &str, password: &str) -> u64 {
        self.hasher.hash_one((user, password))
    }

    fn remembered(&self, key: u64) -> Option<bool> {
        let seen = |set: &Mutex<HashSet<u64>>| set.lock().unwrap_or_else(|p| p.into_inner()).contains(&key);
        if seen(&self.verified) {
            Some(true)
        } else if seen(&self.refused) {
            Some(false)
        } else {
            None
        }
    }

    fn remember(&self, key: u64, ok: bool) {
        let set = if ok { &self.verified } else { &self.refused };
        let mut set = set.lock().unwrap_or_else(|p| p.into_inner());
        if set.len() >= MAX_REMEMBERED {
            set.clear();
        }
        set.insert(key);
    }
}

impl Authorizer for BasicAuth {
    fn known(&self, authorization: Option<&[u8]>) -> Option<bool> {
        let Some((user, password)) = authorization.and_then(credentials) else {
            return Some(false);
        };
        self.remembered(self.key(&user, &password))
    }

    fn verify(&self, authorization: &[u8]) -> bool {
        let Some((user, password)) = credentials(authorization) else {
            return false;
        };
        let key = self.key(&user, &password);
        let _one_at_a_time = self.checking.lock().unwrap_or_else(|p| p.into_inner());
        // Another connection may have checked the same credentials while this one waited.
        if let Some(known) = self.remembered(key) {
            return known;
        }
        // An unknown user is checked against some user's hash anyway, so that a wrong user name
        // takes as long as a wrong password.
        let (hash, known) = match self.users.get(&user) {
            Some(hash) => (hash.as_str(), true),
            None => match self.users.values().next() {
                Some(any) => (any.as_str(), false),
                None => return false,
            },
        };
        let ok = bcrypt::verify(&password, hash).unwrap_or(false) && known;
        self.remember(key, ok);
        ok
    }
}

/// `Basic base64(user:password)` → user and password.
fn credentials(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
        .into_bytes()
    }

    #[test]
    fn parses_exporter_toolkit_files_and_refuses_what_it_does_not_do() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let text = format!(
            "tls_server_config:\n  cert_file: tls.crt\n  key_file: /abs/tls.key\nbasic_auth_users:\n  prometheus: {hash}\n"
        );
        let config = WebConfig::parse(&text, Path::new("/etc/portscope/web.yml")).unwrap();
        let tls = config.tls_server_config.as_ref().unwrap();
        assert_eq!(tls.cert_file, Path::new("/etc/portscope/tls.crt"));
        assert_eq!(tls.key_file, Path::new("/abs/tls.key"));
        let refused = WebConfig::parse(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n",
            Path::new("w.yml"),
        )
        .unwrap_err();
        assert!(refused.contains("client_ca_file"), "{refused}");
        let plain = WebConfig::parse("basic_auth_users:\n  a: hunter2\n", Path::new("w.yml")).unwrap_err();
        assert!(plain.contains("not a bcrypt hash"), "{plain}");
        assert!(WebConfig::parse("", Path::new("w.yml")).unwrap().auth().is_none());
    }

    #[test]
    fn basic_auth_checks_bcrypt_and_remembers_success() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let config = WebConfig::parse(
            &format!("basic_auth_users:\n  prometheus: '{hash}'\n"),
            Path::new("w.yml"),
        )
        .unwrap();
        let auth = config.auth().unwrap();
        let allows = |h: &[u8]| auth.known(Some(h)).unwrap_or_else(|| auth.verify(h));
        assert_eq!(auth.known(None), Some(false));
        assert!(!allows(b"Bearer x"));
        assert!(!allows(b"Basic !!!notbase64"));
        assert_eq!(
            auth.known(Some(&header("prometheus", "wrong"))),
            None,
            "not checked yet"
        );
        assert!(!allows(&header("prometheus", "wrong")));
        assert_eq!(
            auth.known(Some(&header("prometheus", "wrong"))),
            Some(false),
            "a failure is remembered: no second bcrypt"
        );
        assert!(!allows(&header("nobody", "secret")));
        assert!(allows(&header("prometheus", "secret")));
        assert_eq!(auth.known(Some(&header("prometheus", "secret"))), Some(true));
        assert_eq!(auth.verified.lock().unwrap().len(), 1);
        assert_eq!(auth.refused.lock().unwrap().len(), 2);
    }
}
