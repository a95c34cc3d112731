//! `--web.config.file`: who may read the HTTP endpoint, in the Prometheus exporter-toolkit
//! format that node_exporter takes (`tls_server_config`, `http_server_config.headers`,
//! `basic_auth_users`). See docs/security.md.
//!
//! The file itself is read once, at start: an error in it (or in the certificate, key or CA
//! it names) stops vipd before it serves anything. The certificate, key and client CA files
//! are different: they are re-read when a new connection arrives and any of them changed
//! (modification time, size or inode), so a renewed certificate is served without a restart.
//! If the new files do not load, the previous ones stay in use and a warning is logged once
//! per change.
//!
//! rustls (pure Rust, the *ring* provider) does the TLS: TLS 1.2 and 1.3 only.

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hyper::header::{HeaderName, HeaderValue};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

/// The parsed file, as written (exporter-toolkit key names).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    tls_server_config: Option<TlsSpec>,
    #[serde(default)]
    http_server_config: Option<HttpSpec>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, String>>,
    /// Not implemented: refused rather than silently ignored.
    #[serde(default)]
    rate_limit: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct TlsSpec {
    #[serde(default)]
    cert: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    client_ca: Option<String>,
    #[serde(default)]
    cert_file: Option<PathBuf>,
    #[serde(default)]
    key_file: Option<PathBuf>,
    #[serde(default)]
    client_auth_type: Option<String>,
    #[serde(default)]
    client_ca_file: Option<PathBuf>,
    #[serde(default)]
    client_allowed_sans: Option<Vec<String>>,
    #[serde(default)]
    min_version: Option<String>,
    #[serde(default)]
    max_version: Option<String>,
    #[serde(default)]
    cipher_suites: Option<Vec<String>>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    curve_preferences: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HttpSpec {
    /// vipd serves HTTP/1.1 only; the key is accepted so that node_exporter's files load.
    #[serde(default)]
    #[allow(dead_code)]
    http2: Option<bool>,
    #[serde(default)]
    headers: Option<BTreeMap<String, String>>,
}

/// Client-certificate policy (`client_auth_type`). Only the policies that verify a
/// certificate when one is sent are offered: Go's `RequestClientCert` and
/// `RequireAnyClientCert` accept any certificate unverified and are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `NoClientCert` (the default): no certificate asked for.
    None,
    /// `VerifyClientCertIfGiven`: a certificate is optional, but one that is sent must chain
    /// to `client_ca_file`.
    VerifyIfGiven,
    /// `RequireAndVerifyClientCert`: a certificate chaining to `client_ca_file` is required.
    RequireAndVerify,
}

/// Where a PEM item comes from.
#[derive(Clone)]
enum Pem {
    File(PathBuf),
    Inline(String),
}

impl Pem {
    fn from(
        inline: Option<String>,
        file: Option<PathBuf>,
        what: &str,
    ) -> Result<Option<Pem>, String> {
        match (inline, file) {
            (Some(_), Some(_)) => Err(format!(
                "tls_server_config: `{what}` and `{what}_file` are both set; give one"
            )),
            (Some(s), None) => Ok(Some(Pem::Inline(s))),
            (None, Some(p)) => Ok(Some(Pem::File(p))),
            (None, None) => Ok(None),
        }
    }

    fn describe(&self, what: &str) -> String {
        match self {
            Pem::File(p) => format!("{what}_file `{}`", p.display()),
            Pem::Inline(_) => format!("inline `{what}`"),
        }
    }

    fn certs(&self, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
        let err = |e: rustls_pki_types::pem::Error| format!("{}: {e}", self.describe(what));
        let certs: Vec<_> = match self {
            Pem::File(p) => CertificateDer::pem_file_iter(p)
                .map_err(err)?
                .collect::<Result<_, _>>()
                .map_err(err)?,
            Pem::Inline(s) => CertificateDer::pem_slice_iter(s.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(err)?,
        };
        if certs.is_empty() {
            return Err(format!("{}: no PEM certificate in it", self.describe(what)));
        }
        Ok(certs)
    }

    fn key(&self) -> Result<PrivateKeyDer<'static>, String> {
        let err = |e: rustls_pki_types::pem::Error| format!("{}: {e}", self.describe("key"));
        match self {
            Pem::File(p) => PrivateKeyDer::from_pem_file(p).map_err(err),
            Pem::Inline(s) => PrivateKeyDer::from_pem_slice(s.as_bytes()).map_err(err),
        }
    }

    /// What identifies this version of the file (None for inline text, which never changes).
    fn stamp(&self) -> Option<(i64, i64, u64, u64)> {
        match self {
            Pem::Inline(_) => None,
            Pem::File(p) => std::fs::metadata(p)
                .ok()
                .map(|m| (m.mtime(), m.mtime_nsec(), m.size(), m.ino())),
        }
    }
}

/// The TLS settings other than the files, fixed at start.
#[derive(Clone)]
struct TlsSettings {
    cert: Pem,
    key: Pem,
    client_ca: Option<Pem>,
    client_auth: ClientAuth,
    versions: Vec<&'static SupportedProtocolVersion>,
    provider: Arc<CryptoProvider>,
    prefer_server_order: bool,
}

type Stamps = Vec<Option<(i64, i64, u64, u64)>>;

impl TlsSettings {
    fn stamps(&self) -> Stamps {
        std::iter::once(&self.cert)
            .chain(std::iter::once(&self.key))
            .chain(self.client_ca.iter())
            .map(Pem::stamp)
            .collect()
    }

    /// Reads the certificate, key and CA and builds the rustls configuration.
    fn build(&self) -> Result<Arc<ServerConfig>, String> {
        let certs = self.cert.certs("cert")?;
        let key = self.key.key()?;
        let builder = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&self.versions)
            .map_err(|e| format!("tls_server_config: {e}"))?;
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify => {
                let ca = self.client_ca.as_ref().ok_or(
                    "tls_server_config: client_ca_file is required with this client_auth_type",
                )?;
                let mut roots = RootCertStore::empty();
                for c in ca.certs("client_ca")? {
                    roots
                        .add(c)
                        .map_err(|e| format!("{}: {e}", ca.describe("client_ca")))?;
                }
                let v = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    self.provider.clone(),
                );
                let v = if self.client_auth == ClientAuth::VerifyIfGiven {
                    v.allow_unauthenticated()
                } else {
                    v
                };
                let v = v
                    .build()
                    .map_err(|e| format!("{}: {e}", ca.describe("client_ca")))?;
                builder.with_client_cert_verifier(v)
            }
        };
        let mut cfg = builder.with_single_cert(certs, key).map_err(|e| {
            format!(
                "{} and {} do not make a usable pair: {e}",
                self.cert.describe("cert"),
                self.key.describe("key")
            )
        })?;
        cfg.ignore_client_order = self.prefer_server_order;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}

/// TLS with its files re-read on change.
pub struct Tls {
    settings: TlsSettings,
    /// The configuration in use and the file versions it was built from (or the versions a
    /// failed reload saw, so that it is tried and logged once per change).
    current: Mutex<(Stamps, Arc<ServerConfig>)>,
}

impl Tls {
    /// The configuration for a new connection: the current one, rebuilt first if a file
    /// changed since. Blocking (stat, and reading the files when they changed).
    pub fn config(&self) -> Arc<ServerConfig> {
        let stamps = self.settings.stamps();
        let mut g = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if g.0 != stamps {
            match self.settings.build() {
                Ok(cfg) => {
                    tracing::info!("web config: certificate files changed, reloaded");
                    *g = (stamps, cfg);
                }
                Err(e) => {
                    tracing::warn!(
                        "web config: certificate files changed but cannot be used, keeping the previous ones: {e}"
                    );
                    g.0 = stamps;
                }
            }
        }
        g.1.clone()
    }

    /// The client-certificate policy.
    pub fn client_auth(&self) -> ClientAuth {
        self.settings.client_auth
    }
}

/// Who may read the endpoint and what every response carries. The default is the open
/// endpoint vipd has without `--web.config.file`: plain HTTP, no authentication, no headers.
#[derive(Default)]
pub struct WebConfig {
    /// TLS, if `tls_server_config` is set.
    pub tls: Option<Tls>,
    /// User name to bcrypt hash; empty: no authentication.
    users: BTreeMap<String, String>,
    /// `http_server_config.headers`, added to every response.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Passwords that matched their user's hash, so that bcrypt (tens of milliseconds at cost
    /// 10) runs once per user and password rather than on every scrape.
    verified: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl fmt::Debug for WebConfig {
    /// Names the users, never their hashes, and no key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.as_ref().map(|t| t.settings.client_auth))
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("headers", &self.headers)
            .finish()
    }
}

/// The headers `http_server_config.headers` may set (exporter-toolkit's list).
const HEADERS: [&str; 5] = [
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Strict-Transport-Security",
];

fn version(name: &str, key: &str) -> Result<u8, String> {
    match name {
        "TLS10" => Ok(10),
        "TLS11" => Ok(11),
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        other => Err(format!(
            "tls_server_config.{key}: `{other}` is not one of TLS10, TLS11, TLS12, TLS13"
        )),
    }
}

/// The crypto provider for `cipher_suites` and `curve_preferences` (Go's names).
fn provider(spec: &TlsSpec) -> Result<CryptoProvider, String> {
    let mut p = rustls::crypto::ring::default_provider();
    if let Some(names) = &spec.cipher_suites {
        let all = p.cipher_suites.clone();
        let tls13 = |s: &rustls::SupportedCipherSuite| s.version() == &rustls::version::TLS13;
        let mut chosen: Vec<rustls::SupportedCipherSuite> = Vec::new();
        for name in names {
            let found = all.iter().find(|s| {
                // rustls spells the TLS 1.3 suites TLS13_*, Go and IANA TLS_*.
                let iana = format!("{:?}", s.suite()).replace("TLS13_", "TLS_");
                iana == *name || iana == format!("{name}_SHA256")
            });
            match found {
                // TLS 1.3 suites are not configurable (as in Go): always offered.
                Some(s) if tls13(s) => {}
                Some(s) => {
                    if !chosen.iter().any(|c| c.suite() == s.suite()) {
                        chosen.push(*s)
                    }
                }
                None => {
                    let known: Vec<String> = all
                        .iter()
                        .filter(|s| !tls13(s))
                        .map(|s| format!("{:?}", s.suite()))
                        .collect();
                    return Err(format!(
                        "tls_server_config.cipher_suites: `{name}` is not supported (supported: {})",
                        known.join(", ")
                    ));
                }
            }
        }
        chosen.extend(all.iter().filter(|s| tls13(s)).copied());
        p.cipher_suites = chosen;
    }
    if let Some(names) = &spec.curve_preferences {
        use rustls::crypto::ring::kx_group;
        let mut groups: Vec<&'static dyn rustls::crypto::SupportedKxGroup> = Vec::new();
        for name in names {
            let g = match name.as_str() {
                "X25519" => kx_group::X25519,
                "CurveP256" => kx_group::SECP256R1,
                "CurveP384" => kx_group::SECP384R1,
                other => {
                    return Err(format!(
                        "tls_server_config.curve_preferences: `{other}` is not supported (supported: X25519, CurveP256, CurveP384)"
                    ));
                }
            };
            if !groups.iter().any(|x| x.name() == g.name()) {
                groups.push(g);
            }
        }
        if groups.is_empty() {
            return Err("tls_server_config.curve_preferences: empty list".into());
        }
        p.kx_groups = groups;
    }
    Ok(p)
}

fn tls_settings(spec: TlsSpec) -> Result<Option<TlsSettings>, String> {
    let cert = Pem::from(spec.cert.clone(), spec.cert_file.clone(), "cert")?;
    let key = Pem::from(spec.key.clone(), spec.key_file.clone(), "key")?;
    let client_ca = Pem::from(
        spec.client_ca.clone(),
        spec.client_ca_file.clone(),
        "client_ca",
    )?;
    let client_auth = match spec.client_auth_type.as_deref().unwrap_or("NoClientCert") {
        "NoClientCert" => ClientAuth::None,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
        t @ ("RequestClientCert" | "RequireAnyClientCert") => {
            return Err(format!(
                "tls_server_config.client_auth_type: `{t}` accepts certificates without verifying them and is not supported; use RequireAndVerifyClientCert (or VerifyClientCertIfGiven)"
            ));
        }
        other => {
            return Err(format!(
                "tls_server_config.client_auth_type: `{other}` is not one of NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"
            ));
        }
    };
    if spec.client_allowed_sans.is_some() {
        return Err(
            "tls_server_config.client_allowed_sans is not supported by vipd (issue a dedicated client CA instead)"
                .into(),
        );
    }
    let (cert, key) = match (cert, key) {
        (None, None) => {
            // exporter-toolkit: an empty tls_server_config means plain HTTP.
            if client_ca.is_some() || client_auth != ClientAuth::None {
                return Err("tls_server_config: client authentication is set but cert_file and key_file are not".into());
            }
            return Ok(None);
        }
        (Some(_), None) => return Err("tls_server_config: key_file is missing".into()),
        (None, Some(_)) => return Err("tls_server_config: cert_file is missing".into()),
        (Some(c), Some(k)) => (c, k),
    };
    if client_auth == ClientAuth::None && client_ca.is_some() {
        return Err("tls_server_config: client_ca_file is set but client_auth_type is not (use RequireAndVerifyClientCert)".into());
    }
    if client_auth != ClientAuth::None && client_ca.is_none() {
        return Err(
            "tls_server_config: client_auth_type verifies certificates but client_ca_file is not set"
                .into(),
        );
    }
    let min = version(
        spec.min_version.as_deref().unwrap_or("TLS12"),
        "min_version",
    )?;
    let max = version(
        spec.max_version.as_deref().unwrap_or("TLS13"),
        "max_version",
    )?;
    if min > max {
        return Err("tls_server_config: min_version is above max_version".into());
    }
    if max < 12 {
        return Err(
            "tls_server_config.max_version: vipd (rustls) speaks TLS 1.2 and 1.3 only".into(),
        );
    }
    let mut versions: Vec<&'static SupportedProtocolVersion> = Vec::new();
    if min <= 12 {
        versions.push(&rustls::version::TLS12);
    }
    versions.push(&rustls::version::TLS13);
    if max == 12 {
        versions.retain(|v| *v == &rustls::version::TLS12);
    }
    let provider = provider(&spec)?;
    Ok(Some(TlsSettings {
        cert,
        key,
        client_ca,
        client_auth,
        versions,
        provider: Arc::new(provider),
        prefer_server_order: spec.prefer_server_cipher_suites.unwrap_or(true),
    }))
}

impl WebConfig {
    /// Reads and checks `path`, and loads the files it names.
    pub fn load(path: &Path) -> Result<WebConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses the text of a web configuration file; relative file names are taken from
    /// `base` (the file's directory, as exporter-toolkit does).
    pub fn parse(text: &str, base: &Path) -> Result<WebConfig, String> {
        let spec: FileSpec = if text.trim().is_empty() {
            FileSpec::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| e.to_string())?
        };
        if spec.rate_limit.is_some() {
            return Err("rate_limit is not supported by vipd (its connection limits and bounded encode queue are built in)".into());
        }
        let tls = match spec.tls_server_config {
            None => None,
            Some(mut t) => {
                for p in [&mut t.cert_file, &mut t.key_file, &mut t.client_ca_file]
                    .into_iter()
                    .flatten()
                {
                    if p.is_relative() {
                        *p = base.join(&*p);
                    }
                }
                match tls_settings(t)? {
                    None => None,
                    Some(settings) => {
                        let stamps = settings.stamps();
                        let cfg = settings.build()?;
                        Some(Tls {
                            settings,
                            current: Mutex::new((stamps, cfg)),
                        })
                    }
                }
            }
        };
        let mut headers = Vec::new();
        for (k, v) in spec
            .http_server_config
            .and_then(|h| h.headers)
            .unwrap_or_default()
        {
            let Some(name) = HEADERS.iter().find(|h| h.eq_ignore_ascii_case(&k)) else {
                return Err(format!(
                    "http_server_config.headers: `{k}` cannot be set (allowed: {})",
                    HEADERS.join(", ")
                ));
            };
            if v.is_empty() {
                continue;
            }
            let lower = v.to_ascii_lowercase();
            if *name == "X-Frame-Options" && lower != "deny" && lower != "sameorigin" {
                return Err(format!(
                    "http_server_config.headers: X-Frame-Options must be deny or sameorigin, not `{v}`"
                ));
            }
            if *name == "X-Content-Type-Options" && lower != "nosniff" {
                return Err(format!(
                    "http_server_config.headers: X-Content-Type-Options must be nosniff, not `{v}`"
                ));
            }
            let value = HeaderValue::from_str(&v).map_err(|_| {
                format!("http_server_config.headers: {name}: `{v}` is not a valid header value")
            })?;
            headers.push((HeaderName::from_static(lower_name(name)), value));
        }
        let users = spec.basic_auth_users.unwrap_or_default();
        for (user, hash) in &users {
            if user.contains(':') {
                return Err(format!(
                    "basic_auth_users: user name `{user}` contains `:`, which basic authentication cannot carry"
                ));
            }
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(format!(
                    "basic_auth_users: the password of `{user}` is not a bcrypt hash (make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)"
                ));
            }
        }
        Ok(WebConfig {
            tls,
            users,
            headers,
            verified: Mutex::default(),
        })
    }

    /// Whether requests need a user and password.
    pub fn requires_auth(&self) -> bool {
        !self.users.is_empty()
    }

    /// The headers every response carries.
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// Whether `authorization` carries a user and password verified before (no bcrypt: cheap
    /// enough for the runtime thread).
    pub fn remembered(&self, authorization: &[u8]) -> bool {
        let Some((user, password)) = basic_credentials(authorization) else {
            return false;
        };
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&user)
            .is_some_and(|p| constant_time_eq(p, &password))
    }

    /// Whether `authorization` (the request's `Authorization` header) names a configured
    /// user with the right password. Blocking: bcrypt, unless this user and password were
    /// verified before. An unknown user costs the same bcrypt run as a known one.
    pub fn authorized(&self, authorization: Option<&[u8]>) -> bool {
        if self.users.is_empty() {
            return true;
        }
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return false;
        };
        let cached = self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&user)
            .is_some_and(|p| constant_time_eq(p, &password));
        if cached {
            return true;
        }
        let (hash, known) = match self.users.get(&user) {
            Some(h) => (h.as_str(), true),
            // Same work for an unknown user, so timing does not tell which users exist.
            None => (
                self.users.values().next().map(String::as_str).unwrap_or(""),
                false,
            ),
        };
        let ok = bcrypt::verify(&password, hash).unwrap_or(false) && known;
        if ok {
            self.verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(user, password);
        }
        ok
    }

    /// `https` with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

fn lower_name(name: &str) -> &'static str {
    match name {
        "Content-Security-Policy" => "content-security-policy",
        "X-Frame-Options" => "x-frame-options",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-XSS-Protection" => "x-xss-protection",
        _ => "strict-transport-security",
    }
}

/// User and password of an `Authorization: Basic ...` value.
fn basic_credentials(value: &[u8]) -> Option<(String, Vec<u8>)> {
    use base64::Engine;
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        WebConfig::parse(text, Path::new("/nonexistent")).unwrap_err()
    }

    fn write_pair(dir: &Path) -> (PathBuf, PathBuf) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        (cert, key)
    }

    #[test]
    fn empty_file_is_the_open_endpoint() {
        let w = WebConfig::parse("", Path::new(".")).unwrap();
        assert!(w.tls.is_none());
        assert!(!w.requires_auth());
        assert!(w.authorized(None));
        assert!(w.headers().is_empty());
        // An empty tls_server_config: plain HTTP, as in exporter-toolkit.
        let w = WebConfig::parse("tls_server_config: {}\n", Path::new(".")).unwrap();
        assert!(w.tls.is_none());
        assert_eq!(w.scheme(), "http");
    }

    #[test]
    fn unknown_keys_and_unsupported_features_are_refused() {
        assert!(err("tls_server_config:\n  certfile: x\n").contains("certfile"));
        assert!(err("rate_limit:\n  interval: 1s\n  burst: 2\n").contains("rate_limit"));
        assert!(err("basic_auth: {}\n").contains("basic_auth"));
        assert!(
            err("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_allowed_sans: [x]\n")
                .contains("client_allowed_sans")
        );
    }

    #[test]
    fn tls_errors_are_clear() {
        assert!(err("tls_server_config:\n  cert_file: a.pem\n").contains("key_file is missing"));
        assert!(err("tls_server_config:\n  key_file: a.pem\n").contains("cert_file is missing"));
        let e = err(
            "tls_server_config:\n  cert_file: /nonexistent/c.pem\n  key_file: /nonexistent/k.pem\n",
        );
        assert!(e.contains("cert_file `/nonexistent/c.pem`"), "{e}");
        let e = err(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAnyClientCert\n",
        );
        assert!(e.contains("not supported"), "{e}");
        let e =
            err("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Bogus\n");
        assert!(e.contains("not one of"), "{e}");
        let e = err(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
        );
        assert!(e.contains("client_ca_file is not set"), "{e}");
        let e = err("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n");
        assert!(e.contains("client_auth_type is not"), "{e}");
        let e = err("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS14\n");
        assert!(e.contains("min_version"), "{e}");
        let e = err(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n  max_version: TLS11\n",
        );
        assert!(e.contains("1.2 and 1.3"), "{e}");
        let e = err(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n",
        );
        assert!(e.contains("above"), "{e}");
        let e = err(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n",
        );
        assert!(
            e.contains("TLS_RSA_WITH_RC4_128_SHA") && e.contains("supported:"),
            "{e}"
        );
        let e = err(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [CurveP521]\n",
        );
        assert!(e.contains("CurveP521"), "{e}");
        let e = err("tls_server_config:\n  cert: x\n  cert_file: a\n  key_file: b\n");
        assert!(e.contains("both set"), "{e}");
    }

    #[test]
    fn tls_loads_with_go_names_and_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        write_pair(dir.path());
        let text = "tls_server_config:
  cert_file: cert.pem
  key_file: key.pem
  min_version: TLS13
  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305, TLS_AES_128_GCM_SHA256]
  curve_preferences: [X25519, CurveP256]
  prefer_server_cipher_suites: false
http_server_config:
  http2: false
";
        let w = WebConfig::parse(text, dir.path()).unwrap();
        let tls = w.tls.as_ref().unwrap();
        assert_eq!(w.scheme(), "https");
        assert_eq!(tls.settings.versions, vec![&rustls::version::TLS13]);
        let suites: Vec<String> = tls
            .settings
            .provider
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert_eq!(
            suites[..2],
            [
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
            ]
        );
        assert!(
            suites[2..].iter().all(|s| s.starts_with("TLS13_")),
            "{suites:?}"
        );
        assert_eq!(tls.settings.provider.kx_groups.len(), 2);
        assert!(!tls.config().ignore_client_order);
        assert_eq!(tls.client_auth(), ClientAuth::None);
    }

    #[test]
    fn certificate_files_are_reread_on_change_and_a_bad_change_keeps_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _key) = write_pair(dir.path());
        let w = WebConfig::parse(
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n",
            dir.path(),
        )
        .unwrap();
        let tls = w.tls.as_ref().unwrap();
        let first = tls.config();
        assert!(
            Arc::ptr_eq(&first, &tls.config()),
            "unchanged files: same config"
        );
        write_pair(dir.path());
        let second = tls.config();
        assert!(!Arc::ptr_eq(&first, &second), "new files: rebuilt");
        std::fs::write(&cert, "not a certificate\n").unwrap();
        let third = tls.config();
        assert!(Arc::ptr_eq(&second, &third), "broken files: previous kept");
    }

    #[test]
    fn mismatched_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        write_pair(dir.path());
        let other = rcgen::generate_simple_self_signed(vec!["x".to_owned()]).unwrap();
        std::fs::write(
            dir.path().join("key.pem"),
            other.signing_key.serialize_pem(),
        )
        .unwrap();
        let e = WebConfig::parse(
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n",
            dir.path(),
        )
        .unwrap_err();
        assert!(e.contains("usable pair"), "{e}");
    }

    #[test]
    fn headers_are_checked() {
        let w = WebConfig::parse(
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\n    X-XSS-Protection: ''\n",
            Path::new("."),
        )
        .unwrap();
        let names: Vec<&str> = w.headers().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["strict-transport-security", "x-frame-options"]);
        assert!(err("http_server_config:\n  headers:\n    Server: x\n").contains("cannot be set"));
        assert!(
            err("http_server_config:\n  headers:\n    X-Frame-Options: allow\n")
                .contains("deny or sameorigin")
        );
        assert!(
            err("http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n")
                .contains("nosniff")
        );
    }

    #[test]
    fn basic_auth_checks_bcrypt() {
        use base64::Engine;
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let w = WebConfig::parse(
            &format!("basic_auth_users:\n  alice: '{hash}'\n"),
            Path::new("."),
        )
        .unwrap();
        let header = |u: &str, p: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        };
        assert!(w.requires_auth());
        assert!(!w.authorized(None));
        assert!(!w.remembered(header("alice", "s3cret").as_bytes()));
        assert!(w.authorized(Some(header("alice", "s3cret").as_bytes())));
        assert!(w.remembered(header("alice", "s3cret").as_bytes()));
        assert!(!w.remembered(header("alice", "s3creT").as_bytes()));
        // Cached now; a wrong password still fails.
        assert!(w.authorized(Some(header("alice", "s3cret").as_bytes())));
        assert!(!w.authorized(Some(header("alice", "wrong").as_bytes())));
        assert!(!w.authorized(Some(header("bob", "s3cret").as_bytes())));
        assert!(!w.authorized(Some(b"Bearer abc")));
        assert!(!w.authorized(Some(b"Basic !!!")));
        let dbg = format!("{w:?}");
        assert!(dbg.contains("alice") && !dbg.contains(&hash), "{dbg}");
        assert!(err("basic_auth_users:\n  alice: plain\n").contains("not a bcrypt hash"));
        assert!(err(&format!("basic_auth_users:\n  'a:b': '{hash}'\n")).contains("contains `:`"));
    }
}
