//! The `e2b` backend: sandboxes are E2B cloud VMs, reached over E2B's HTTP
//! API with ureq. The control plane (`api.<domain>`, `X-API-KEY`) creates,
//! extends and kills sandboxes; the daemon inside each sandbox (envd, port
//! 49983) starts processes and streams their output with the Connect
//! protocol (JSON messages in 5-byte envelopes), sends signals, and takes
//! and gives files (`/files`).
//!
//! Settings come from the environment as E2B's SDKs read them: `E2B_API_KEY`,
//! `E2B_DOMAIN` (default `e2b.app`), `E2B_API_URL` and `E2B_SANDBOX_URL` to
//! point at other servers (`E2B_SANDBOX_URL` wins over debug mode, as in the
//! SDKs), and `E2B_DEBUG=true` for a local envd over plain HTTP
//! (`http://localhost:49983`, no control plane). Idempotent calls are
//! retried with backoff; a 401 says the key is wrong.
//!
//! The control plane is reached as the current SDKs reach it (`POST
//! /v2/sandboxes`, `POST /v2/sandboxes/{id}/connect`), falling back to the v1
//! routes where a deployment answers 404. The proxy in front of envd tells
//! a sandbox that is gone (502 "not found", [`SandboxGone`]) from a port
//! that is not open yet (502, retried) and from a sandbox in transition
//! (409, retried with backoff). The sandbox's `envdVersion` decides how to
//! talk to envd: a user named on every call before 0.4.0, multipart uploads
//! before 0.5.7.
//!
//! envd signals only the PID it is given, so every command starts in a
//! session of its own (`setsid`) and is stopped by signalling its whole
//! process group, which is also killed once the command ended: nothing it
//! started outlives it. envd ends a command only when its output pipes
//! close, so after a silence the leader is looked at, and a leader that
//! ended has its group killed for the end to come. Process streams carry
//! keepalives (`PCC_E2B_KEEPALIVE_SECONDS`, default 50); a stream silent
//! for three of them is taken as cut and picked up again, so a half-open
//! connection cannot hang a run. Errors of a stream arrive at its end
//! (Connect's end-of-stream message): an unknown process is known at once.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use base64::Engine as _;
use serde_json::{json, Value};

use super::{
    pack, Backend, CommandSpec, Exit, Flow, OutputStream, ProcessHandle, RunEvent, Sandbox,
    SandboxInfo, KILL_GRACE,
};
use crate::UserError;

/// The port envd listens on inside every sandbox.
pub const ENVD_PORT: u16 = 49983;
/// The sandbox user's home, where relative envd paths resolve.
pub const HOME: &str = "/home/user";
/// Where the workspace is unpacked inside the sandbox.
pub const WORKSPACE: &str = "/home/user/workspace";
/// The sandbox id E2B's SDKs use in debug mode.
const DEBUG_SANDBOX_ID: &str = "debug_sandbox_id";
/// How long a sandbox lives past its last extension while a command runs.
const KEEPALIVE_WINDOW: Duration = Duration::from_secs(600);
/// How often the sandbox's life is extended while a command runs: first
/// after the command has run a while, then every minute.
const EXTEND_FIRST: Duration = Duration::from_secs(1);
const EXTEND_EVERY: Duration = Duration::from_secs(60);
/// How many times a call is repeated while the sandbox is in transition
/// (409) or its envd port is not open yet.
const TRANSITION_RETRIES: u32 = 8;
/// The user envd runs commands as; envd before 0.4.0 needs it named.
const SANDBOX_USER: &str = "user";

/// An envd version, as `envdVersion` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EnvdVersion(pub u32, pub u32, pub u32);

impl EnvdVersion {
    /// The first envd with a default user.
    pub const DEFAULT_USER: EnvdVersion = EnvdVersion(0, 4, 0);
    /// The first envd that takes `application/octet-stream` uploads.
    pub const OCTET_STREAM_UPLOAD: EnvdVersion = EnvdVersion(0, 5, 7);
    /// What to assume when E2B does not say (debug mode): the newest.
    pub const NEWEST: EnvdVersion = EnvdVersion(u32::MAX, 0, 0);

    /// Reads `0.6.13` (a pre-release or build suffix ignored).
    pub fn parse(text: &str) -> Option<EnvdVersion> {
        let core = text.trim().trim_start_matches('v');
        let core = core.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
        let major = parts.next()??;
        let minor = parts.next().unwrap_or(Some(0))?;
        let patch = parts.next().unwrap_or(Some(0))?;
        Some(EnvdVersion(major, minor, patch))
    }
}

/// Where and how to reach E2B.
#[derive(Debug, Clone)]
pub struct E2bSettings {
    pub api_url: String,
    /// One base URL for every sandbox's envd (routed by headers), when set.
    pub sandbox_url: Option<String>,
    pub domain: String,
    pub api_key: Option<String>,
    pub debug: bool,
    /// The E2B template sandboxes are created from.
    pub template: String,
    /// The longest a sandbox may live (the template's or the plan's maximum).
    pub max_lifetime: Duration,
    pub max_retries: u32,
    /// How often envd sends keepalives on a process stream.
    pub keepalive: Duration,
}

impl E2bSettings {
    /// Reads the settings from the environment. Without `E2B_DEBUG`, an API
    /// key is required.
    pub fn from_env(template: &str, max_lifetime: Duration) -> Result<E2bSettings> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let debug = var("E2B_DEBUG").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let domain = var("E2B_DOMAIN").unwrap_or_else(|| "e2b.app".to_owned());
        let api_url = var("E2B_API_URL").unwrap_or_else(|| {
            if debug {
                "http://localhost:3000".to_owned()
            } else {
                format!("https://api.{domain}")
            }
        });
        let api_key = var("E2B_API_KEY");
        if api_key.is_none() && !debug {
            return Err(UserError::with_hint(
                "the e2b backend needs E2B_API_KEY in the environment",
                "get a key from the E2B dashboard and export E2B_API_KEY",
            )
            .into());
        }
        Ok(E2bSettings {
            api_url: api_url.trim_end_matches('/').to_owned(),
            sandbox_url: var("E2B_SANDBOX_URL").map(|u| u.trim_end_matches('/').to_owned()),
            domain,
            api_key,
            debug,
            template: template.to_owned(),
            max_lifetime,
            max_retries: var("E2B_MAX_RETRIES")
                .and_then(|v| v.parse().ok())
                .unwrap_or(3),
            keepalive: Duration::from_secs(
                var("PCC_E2B_KEEPALIVE_SECONDS")
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|s| *s > 0)
                    .unwrap_or(50),
            ),
        })
    }
}

/// An HTTP failure of the E2B API, as one line.
fn api_error(what: &str, status: u16, body: &str) -> anyhow::Error {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| body.trim().chars().take(200).collect());
    if status == 401 {
        return UserError::with_hint(
            format!("E2B rejected the API key (HTTP 401): {message}"),
            "check E2B_API_KEY",
        )
        .into();
    }
    UserError::new(format!("E2B {what} failed: HTTP {status}: {message}")).into()
}

/// The sandbox is not there any more: killed, or past its timeout (envd's
/// edge answers 502).
#[derive(Debug)]
pub struct SandboxGone(pub String);

impl std::fmt::Display for SandboxGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "E2B sandbox {} is not running any more", self.0)
    }
}

impl std::error::Error for SandboxGone {}

/// What the proxy in front of envd says when it does not pass a request on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProxyRefusal {
    /// 502: no such sandbox (killed, or past its timeout).
    NotFound,
    /// 502: the sandbox runs but nothing listens on the port (yet).
    PortClosed,
    /// 409: the sandbox is pausing or resuming.
    Transitioning,
}

/// Reads a proxy answer: JSON `{"sandboxId", "message", "code"}`.
fn proxy_refusal(status: u16, body: &str) -> Option<ProxyRefusal> {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(Value::as_str)
                .map(str::to_lowercase)
        })
        .unwrap_or_default();
    match status {
        409 => Some(ProxyRefusal::Transitioning),
        502 if message.contains("port is not open") => Some(ProxyRefusal::PortClosed),
        // Any other 502 (also one without a body) means the sandbox is gone.
        502 => Some(ProxyRefusal::NotFound),
        _ => None,
    }
}

/// Whether a transport error happened before the request reached the server.
fn never_sent(err: &ureq::Error) -> bool {
    matches!(
        err,
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound | ureq::Error::Io(_)
    ) && match err {
        ureq::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotConnected
        ),
        _ => true,
    }
}

/// The pause before retry `attempt` (0-based): exponential with jitter, or
/// what the server asked for.
fn backoff(attempt: u32, retry_after: Option<&str>) -> Duration {
    if let Some(seconds) = retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
        return Duration::from_secs(seconds.min(5));
    }
    let ceiling = Duration::from_millis(100 * (1 << attempt.min(5))).min(Duration::from_secs(2));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let fraction = 0.5 + f64::from(nanos % 1000) / 2000.0;
    ceiling.mul_f64(fraction)
}

/// A response read whole.
struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// The HTTP client of one process: unary calls with retries, and streams.
#[derive(Clone)]
pub struct Client {
    settings: E2bSettings,
    unary: ureq::Agent,
    streaming: ureq::Agent,
    /// Set once the control plane answered a v2 route with 404.
    v1_only: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Whether a failed call should be made again: the proxy said the sandbox
/// is in transition or its port is not open yet, and tries are left. A
/// sandbox the proxy does not know is [`SandboxGone`].
fn retry_refused(sandbox_id: &str, status: u16, body: &str, attempt: u32) -> Result<bool> {
    match proxy_refusal(status, body) {
        Some(ProxyRefusal::NotFound) => Err(SandboxGone(sandbox_id.to_owned()).into()),
        Some(ProxyRefusal::PortClosed | ProxyRefusal::Transitioning) => {
            Ok(attempt < TRANSITION_RETRIES)
        }
        None => Ok(false),
    }
}

/// The one line for a refusal that outlasted the retries.
fn refused_error(what: &str, sandbox_id: &str, status: u16, body: &str) -> anyhow::Error {
    match proxy_refusal(status, body) {
        Some(ProxyRefusal::PortClosed) => UserError::with_hint(
            format!("E2B sandbox {sandbox_id} runs, but its envd port {ENVD_PORT} is not open"),
            "the template's envd may not have started; try again, or check the template",
        )
        .into(),
        Some(ProxyRefusal::Transitioning) => UserError::with_hint(
            format!(
                "E2B sandbox {sandbox_id} stayed in transition (HTTP 409) while trying to {what}"
            ),
            "it is being paused or resumed; try again in a moment",
        )
        .into(),
        _ => api_error(what, status, body),
    }
}

impl Client {
    pub fn new(settings: E2bSettings) -> Client {
        let unary: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let streaming: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .build()
            .into();
        Client {
            settings,
            unary,
            streaming,
            v1_only: Default::default(),
        }
    }

    pub fn settings(&self) -> &E2bSettings {
        &self.settings
    }

    /// One call to the control plane or envd, retried where that is safe:
    /// always when the request never reached the server or was refused
    /// with 429, and for idempotent calls also on 408 and 5xx.
    fn call(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        idempotent: bool,
    ) -> Result<Reply> {
        let mut attempt = 0;
        loop {
            let mut request = ureq::http::Request::builder().method(method).uri(url);
            for (name, value) in headers {
                request = request.header(*name, value.as_str());
            }
            let request = request.body(body.map(<[u8]>::to_vec).unwrap_or_default())?;
            let outcome = self.unary.run(request);
            let retry_after;
            match outcome {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    // Through the proxy to envd: 502 and 409 say why the
                    // request did not get through.
                    let sandbox_id = headers
                        .iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case("E2b-Sandbox-Id"))
                        .map(|(_, id)| id.as_str());
                    let refused = match sandbox_id {
                        Some(_) => matches!(status, 409 | 502),
                        None => status == 409 && idempotent,
                    };
                    if refused {
                        let body = response.body_mut().read_to_string().unwrap_or_default();
                        let again = match sandbox_id {
                            Some(id) => retry_refused(id, status, &body, attempt)?,
                            None => attempt < TRANSITION_RETRIES,
                        };
                        if !again {
                            return Ok(Reply { status, body });
                        }
                        std::thread::sleep(backoff(attempt, retry_after.as_deref()));
                        attempt += 1;
                        continue;
                    }
                    let retryable = status == 429
                        || (idempotent && matches!(status, 408 | 500 | 502 | 503 | 504));
                    if !retryable || attempt >= self.settings.max_retries {
                        let body = response
                            .body_mut()
                            .with_config()
                            .limit(64 * 1024 * 1024)
                            .read_to_string()
                            .unwrap_or_default();
                        return Ok(Reply { status, body });
                    }
                }
                Err(err) => {
                    let retryable = idempotent || never_sent(&err);
                    if !retryable || attempt >= self.settings.max_retries {
                        return Err(UserError::new(format!(
                            "cannot reach E2B ({method} {}): {err}",
                            strip_query(url)
                        ))
                        .into());
                    }
                    retry_after = None;
                }
            }
            std::thread::sleep(backoff(attempt, retry_after.as_deref()));
            attempt += 1;
        }
    }

    /// A call to the control plane (`path` below the API URL).
    fn control(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        idempotent: bool,
    ) -> Result<Reply> {
        let url = format!("{}{path}", self.settings.api_url);
        self.call(method, &url, &self.api_headers(), body, idempotent)
    }

    fn api_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("Content-Type", "application/json".to_owned()),
            (
                "User-Agent",
                format!("parallel-cc/{}", env!("CARGO_PKG_VERSION")),
            ),
        ];
        if let Some(key) = &self.settings.api_key {
            headers.push(("X-API-KEY", key.clone()));
        }
        headers
    }

    /// Creates a sandbox from the configured template.
    pub fn create(
        &self,
        lifetime: Duration,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Created> {
        if self.settings.debug {
            return Ok(Created::debug(DEBUG_SANDBOX_ID));
        }
        // v2 sandboxes are always secured; v1 needs asking.
        let mut body = json!({
            "templateID": self.settings.template,
            "timeout": lifetime.as_secs().max(1),
            "metadata": metadata,
        });
        let reply = self.control_v2(
            "POST",
            "/sandboxes",
            &mut body,
            &[("secure", json!(true))],
            false,
        )?;
        if !(200..300).contains(&reply.status) {
            return Err(api_error("create sandbox", reply.status, &reply.body));
        }
        Created::from_json(&reply.json())
    }

    /// A control-plane call on the v2 route, or on the v1 route (with
    /// `v1_fields` added) where this deployment has no v2 route.
    fn control_v2(
        &self,
        method: &str,
        path: &str,
        body: &mut Value,
        v1_fields: &[(&str, Value)],
        idempotent: bool,
    ) -> Result<Reply> {
        use std::sync::atomic::Ordering;
        if !self.v1_only.load(Ordering::Relaxed) {
            let reply = self.control(
                method,
                &format!("/v2{path}"),
                Some(body.to_string().as_bytes()),
                idempotent,
            )?;
            if reply.status != 404 || json_error_names_sandbox(&reply.body) {
                return Ok(reply);
            }
            self.v1_only.store(true, Ordering::Relaxed);
        }
        for (name, value) in v1_fields {
            body[*name] = value.clone();
        }
        self.control(method, path, Some(body.to_string().as_bytes()), idempotent)
    }

    /// Fresh access details of a running sandbox (another process created it).
    pub fn connect(&self, sandbox_id: &str, lifetime: Duration) -> Result<Created> {
        if self.settings.debug {
            return Ok(Created::debug(sandbox_id));
        }
        let mut body = json!({ "timeout": lifetime.as_secs().max(1) });
        let reply = self.control_v2(
            "POST",
            &format!("/sandboxes/{sandbox_id}/connect"),
            &mut body,
            &[],
            true,
        )?;
        match reply.status {
            200 | 201 => Created::from_json(&reply.json()),
            404 => Err(UserError::new(format!("E2B sandbox {sandbox_id} is not running")).into()),
            status => Err(api_error("connect to sandbox", status, &reply.body)),
        }
    }

    /// Sets how long from now the sandbox lives.
    pub fn set_timeout(&self, sandbox_id: &str, lifetime: Duration) -> Result<()> {
        if self.settings.debug {
            return Ok(());
        }
        let body = json!({ "timeout": lifetime.as_secs().max(1) });
        let reply = self.control(
            "POST",
            &format!("/sandboxes/{sandbox_id}/timeout"),
            Some(body.to_string().as_bytes()),
            true,
        )?;
        if (200..300).contains(&reply.status) {
            Ok(())
        } else {
            Err(api_error("extend sandbox", reply.status, &reply.body))
        }
    }

    /// Kills a sandbox. Returns false when it was not running.
    pub fn kill(&self, sandbox_id: &str) -> Result<bool> {
        if self.settings.debug {
            return Ok(false);
        }
        let reply = self.control("DELETE", &format!("/sandboxes/{sandbox_id}"), None, true)?;
        match reply.status {
            200..=299 => Ok(true),
            404 => Ok(false),
            status => Err(api_error("kill sandbox", status, &reply.body)),
        }
    }

    /// The state of a sandbox (`running`, `paused`), or None when gone.
    pub fn state(&self, sandbox_id: &str) -> Result<Option<Value>> {
        if self.settings.debug {
            return Ok(None);
        }
        let reply = self.control("GET", &format!("/sandboxes/{sandbox_id}"), None, true)?;
        match reply.status {
            200 => Ok(Some(reply.json())),
            404 => Ok(None),
            status => Err(api_error("read sandbox", status, &reply.body)),
        }
    }

    /// The daemon of a sandbox.
    pub fn envd(&self, created: &Created) -> Envd {
        let base = if let Some(url) = &self.settings.sandbox_url {
            url.clone()
        } else if self.settings.debug {
            format!("http://localhost:{ENVD_PORT}")
        } else {
            let domain = created.domain.as_deref().unwrap_or(&self.settings.domain);
            format!("https://{ENVD_PORT}-{}.{domain}", created.sandbox_id)
        };
        Envd {
            client: self.clone(),
            base,
            sandbox_id: created.sandbox_id.clone(),
            token: created.envd_token.clone(),
            version: created.envd_version,
        }
    }
}

/// Whether a 404 is about a sandbox (it names one) rather than a route
/// this deployment does not have.
fn json_error_names_sandbox(body: &str) -> bool {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(Value::as_str)
                .map(str::to_lowercase)
        })
        .is_some_and(|m| m.contains("sandbox"))
}

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// A created (or reconnected) sandbox.
#[derive(Debug, Clone)]
pub struct Created {
    pub sandbox_id: String,
    pub envd_token: Option<String>,
    pub domain: Option<String>,
    pub envd_version: EnvdVersion,
}

impl Created {
    /// A sandbox of debug mode: a local envd, no control plane.
    fn debug(sandbox_id: &str) -> Created {
        Created {
            sandbox_id: sandbox_id.to_owned(),
            envd_token: None,
            domain: None,
            envd_version: EnvdVersion::NEWEST,
        }
    }

    fn from_json(value: &Value) -> Result<Created> {
        let sandbox_id = value
            .get("sandboxID")
            .and_then(Value::as_str)
            .context("E2B's answer has no sandboxID")?
            .to_owned();
        Ok(Created {
            sandbox_id,
            envd_token: value
                .get("envdAccessToken")
                .and_then(Value::as_str)
                .map(str::to_owned),
            domain: value
                .get("domain")
                .and_then(Value::as_str)
                .map(str::to_owned),
            envd_version: value
                .get("envdVersion")
                .and_then(Value::as_str)
                .and_then(EnvdVersion::parse)
                .unwrap_or(EnvdVersion::NEWEST),
        })
    }
}

/// What a process stream says.
#[derive(Debug)]
enum StreamMessage {
    Start(i64),
    Data(OutputStream, Vec<u8>),
    /// envd is there; nothing new.
    Keepalive,
    End {
        exit_code: i32,
        status: String,
    },
    /// The stream ended with an error from envd (Connect's end-of-stream
    /// message): `code` is Connect's (`not_found`, `deadline_exceeded`, ...).
    Failed {
        code: String,
        message: String,
    },
    /// The stream was cut off, or ended without an end event.
    Closed(String),
}

/// The daemon inside one sandbox.
#[derive(Clone)]
pub struct Envd {
    client: Client,
    base: String,
    sandbox_id: String,
    token: Option<String>,
    version: EnvdVersion,
}

/// Wraps a JSON message in a Connect envelope.
fn envelope(message: &Value) -> Vec<u8> {
    let payload = message.to_string().into_bytes();
    let mut framed = Vec::with_capacity(payload.len() + 5);
    framed.push(0);
    framed.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    framed.extend_from_slice(&payload);
    framed
}

/// Reads one Connect envelope: `None` at a clean end of input.
fn read_envelope(reader: &mut impl Read) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 5];
    let mut filled = 0;
    while filled < 5 {
        let n = reader.read(&mut header[filled..])?;
        if n == 0 {
            return if filled == 0 {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        filled += n;
    }
    let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if length > 64 * 1024 * 1024 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream message too large",
        ));
    }
    let mut payload = vec![0u8; length];
    reader.read_exact(&mut payload)?;
    Ok(Some((header[0], payload)))
}

/// Decodes base64 in any of the forms protobuf's JSON allows.
fn decode_bytes(text: &str) -> Vec<u8> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    STANDARD
        .decode(text)
        .or_else(|_| STANDARD_NO_PAD.decode(text))
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .unwrap_or_default()
}

/// Turns one stream message into what the run needs.
fn parse_event(payload: &[u8]) -> Option<StreamMessage> {
    let value: Value = serde_json::from_slice(payload).ok()?;
    let event = value.get("event")?;
    if let Some(start) = event.get("start") {
        let pid = start.get("pid").and_then(|p| {
            p.as_i64()
                .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
        })?;
        return Some(StreamMessage::Start(pid));
    }
    if let Some(data) = event.get("data") {
        for (key, stream) in [
            ("stdout", OutputStream::Stdout),
            ("stderr", OutputStream::Stderr),
        ] {
            if let Some(text) = data.get(key).and_then(Value::as_str) {
                return Some(StreamMessage::Data(stream, decode_bytes(text)));
            }
        }
        return None;
    }
    if event.get("keepalive").is_some() {
        return Some(StreamMessage::Keepalive);
    }
    if let Some(end) = event.get("end") {
        // Proto3 JSON leaves out fields with default values: no exitCode is 0.
        let exit_code = end
            .get("exitCode")
            .or_else(|| end.get("exit_code"))
            .and_then(|c| {
                c.as_i64()
                    .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(0) as i32;
        let status = end
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        return Some(StreamMessage::End { exit_code, status });
    }
    None
}

impl Envd {
    fn headers(&self, content_type: &str) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("Content-Type", content_type.to_owned()),
            ("Connect-Protocol-Version", "1".to_owned()),
            ("E2b-Sandbox-Id", self.sandbox_id.clone()),
            ("E2b-Sandbox-Port", ENVD_PORT.to_string()),
            (
                "User-Agent",
                format!("parallel-cc/{}", env!("CARGO_PKG_VERSION")),
            ),
        ];
        if let Some(token) = &self.token {
            headers.push(("X-Access-Token", token.clone()));
        }
        if self.version < EnvdVersion::DEFAULT_USER {
            let user = base64::engine::general_purpose::STANDARD.encode(format!("{SANDBOX_USER}:"));
            headers.push(("Authorization", format!("Basic {user}")));
        }
        headers
    }

    /// The `/files` URL of a path, with the user older envd needs.
    fn files_url(&self, path: &str) -> String {
        let mut url = format!("{}/files?path={}", self.base, encode_query(path));
        if self.version < EnvdVersion::DEFAULT_USER {
            url.push_str(&format!("&username={SANDBOX_USER}"));
        }
        url
    }

    /// A unary Connect call.
    fn rpc(&self, method: &str, message: &Value, idempotent: bool) -> Result<Reply> {
        self.client.call(
            "POST",
            &format!("{}/{method}", self.base),
            &self.headers("application/json"),
            Some(message.to_string().as_bytes()),
            idempotent,
        )
    }

    /// Sends a signal to a process of the sandbox.
    pub fn signal(&self, pid: i64, signal: &str) -> Result<bool> {
        let reply = self.rpc(
            "process.Process/SendSignal",
            &json!({"process": {"pid": pid}, "signal": signal}),
            true,
        )?;
        match reply.status {
            200 => Ok(true),
            404 => Ok(false),
            status => Err(api_error("signal the sandbox process", status, &reply.body)),
        }
    }

    /// Opens a process stream (`Start` or `Connect`) and forwards its
    /// messages, tagged with `generation`, from a reader thread.
    fn open_stream(
        &self,
        method: &str,
        message: &Value,
        generation: u64,
        sender: mpsc::Sender<(u64, StreamMessage)>,
    ) -> Result<()> {
        let mut request = ureq::http::Request::builder()
            .method("POST")
            .uri(format!("{}/{method}", self.base));
        for (name, value) in self.headers("application/connect+json") {
            request = request.header(name, value);
        }
        request = request.header(
            "Keepalive-Ping-Interval",
            self.client.settings.keepalive.as_secs().to_string(),
        );
        let request = request.body(envelope(message))?;
        let mut attempt = 0;
        let response = loop {
            match self.client.streaming.run(request.clone()) {
                Ok(response) if response.status().as_u16() == 200 => break response,
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    let body = response.body_mut().read_to_string().unwrap_or_default();
                    if retry_refused(&self.sandbox_id, status, &body, attempt)?
                        || (matches!(status, 429 | 503)
                            && attempt < self.client.settings.max_retries)
                    {
                        std::thread::sleep(backoff(attempt, None));
                        attempt += 1;
                        continue;
                    }
                    return Err(refused_error(
                        "start a sandbox process",
                        &self.sandbox_id,
                        status,
                        &body,
                    ));
                }
                Err(err) if never_sent(&err) && attempt < self.client.settings.max_retries => {
                    std::thread::sleep(backoff(attempt, None));
                    attempt += 1;
                }
                Err(err) => {
                    return Err(UserError::new(format!(
                        "cannot reach the E2B sandbox {}: {err}",
                        self.sandbox_id
                    ))
                    .into())
                }
            }
        };
        let mut reader = response.into_body().into_reader();
        std::thread::spawn(move || {
            let send = |message| sender.send((generation, message)).is_ok();
            loop {
                match read_envelope(&mut reader) {
                    Ok(Some((flags, payload))) if flags & 0x02 != 0 => {
                        // The end of the stream: an error, or a clean end.
                        let error = serde_json::from_slice::<Value>(&payload)
                            .ok()
                            .and_then(|v| v.get("error").cloned());
                        send(match error {
                            Some(error) => StreamMessage::Failed {
                                code: error
                                    .get("code")
                                    .and_then(Value::as_str)
                                    .unwrap_or("unknown")
                                    .to_owned(),
                                message: error
                                    .get("message")
                                    .and_then(Value::as_str)
                                    .unwrap_or("stream error")
                                    .to_owned(),
                            },
                            None => StreamMessage::Closed("the stream ended".to_owned()),
                        });
                        return;
                    }
                    Ok(Some((_, payload))) => {
                        if let Some(message) = parse_event(&payload) {
                            if !send(message) {
                                return;
                            }
                        }
                    }
                    Ok(None) => {
                        send(StreamMessage::Closed("the stream was cut off".to_owned()));
                        return;
                    }
                    Err(err) => {
                        send(StreamMessage::Closed(format!(
                            "the stream was cut off: {err}"
                        )));
                        return;
                    }
                }
            }
        });
        Ok(())
    }

    /// Uploads a file (relative paths resolve against the sandbox home):
    /// the bytes as they are, or as a multipart form for envd before 0.5.7.
    /// The body streams, so a refused upload is not repeated.
    pub fn upload(&self, path: &str, body: &mut dyn Read) -> Result<()> {
        let boundary = format!("pcc-{:016x}", rand_u64());
        let multipart = self.version < EnvdVersion::OCTET_STREAM_UPLOAD;
        let content_type = if multipart {
            format!("multipart/form-data; boundary={boundary}")
        } else {
            "application/octet-stream".to_owned()
        };
        let name = path.rsplit('/').next().unwrap_or(path).replace('"', "");
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        );
        let tail = format!("\r\n--{boundary}--\r\n");
        let mut form;
        let reader: &mut dyn Read = if multipart {
            form = head.as_bytes().chain(body).chain(tail.as_bytes());
            &mut form
        } else {
            body
        };
        let mut headers = self.headers(&content_type);
        headers.retain(|(k, _)| *k != "Connect-Protocol-Version");
        let mut request = self.client.streaming.post(self.files_url(path));
        for (name, value) in &headers {
            request = request.header(*name, value.as_str());
        }
        let mut response = request
            .send(ureq::SendBody::from_reader(reader))
            .map_err(|err| UserError::new(format!("cannot upload to the E2B sandbox: {err}")))?;
        let status = response.status().as_u16();
        if status != 200 && status != 204 {
            let body = response.body_mut().read_to_string().unwrap_or_default();
            retry_refused(&self.sandbox_id, status, &body, TRANSITION_RETRIES)?;
            return Err(refused_error("upload", &self.sandbox_id, status, &body));
        }
        Ok(())
    }

    /// Downloads a file of the sandbox into `out`.
    pub fn download(&self, path: &str, out: &mut dyn Write) -> Result<()> {
        let url = self.files_url(path);
        let mut headers = self.headers("application/octet-stream");
        headers.retain(|(k, _)| *k != "Content-Type" && *k != "Connect-Protocol-Version");
        let mut attempt = 0;
        loop {
            let mut request = self.client.streaming.get(&url);
            for (name, value) in &headers {
                request = request.header(*name, value.as_str());
            }
            match request.call() {
                Ok(mut response) if response.status().as_u16() == 200 => {
                    let mut reader = response.body_mut().as_reader();
                    std::io::copy(&mut reader, out)
                        .context("cannot download from the E2B sandbox")?;
                    return Ok(());
                }
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    let body = response.body_mut().read_to_string().unwrap_or_default();
                    let refused = retry_refused(&self.sandbox_id, status, &body, attempt)?;
                    if refused
                        || (matches!(status, 408 | 429 | 500 | 503 | 504)
                            && attempt < self.client.settings.max_retries)
                    {
                        std::thread::sleep(backoff(attempt, None));
                        attempt += 1;
                        continue;
                    }
                    return Err(refused_error("download", &self.sandbox_id, status, &body));
                }
                Err(_) if attempt < self.client.settings.max_retries => {
                    std::thread::sleep(backoff(attempt, None));
                    attempt += 1;
                }
                Err(err) => {
                    return Err(UserError::new(format!(
                        "cannot download from the E2B sandbox: {err}"
                    ))
                    .into())
                }
            }
        }
    }

    /// Signals a process's whole process group (commands start in a session
    /// of their own), and the process itself in case the group is gone.
    pub fn signal_group(&self, pid: i64, signal: &str) -> Result<bool> {
        let name = signal.trim_start_matches("SIGNAL_SIG");
        let group = self.run_quietly(&["kill", "-s", name, "--", &format!("-{pid}")]);
        let leader = self.signal(pid, signal);
        match (group, leader) {
            (_, Ok(true)) | (Ok(Some(0)), _) => Ok(true),
            (_, Err(err)) => Err(err),
            _ => Ok(false),
        }
    }

    /// Whether a process still runs (false once it exited, also while it
    /// waits as a zombie: envd reaps a process only once its output pipes
    /// are closed). True when that cannot be told.
    pub fn still_running(&self, pid: i64) -> bool {
        let probe = r#"s=$(cat /proc/$0/stat 2>/dev/null) || exit 3; case "${s##*) }" in Z*|X*) exit 3;; esac"#;
        self.run_quietly(&["sh", "-c", probe, &pid.to_string()])
            .map_or(true, |code| code != Some(3))
    }

    /// Runs a short command outside any session handling, output ignored:
    /// its exit code, or None when it did not end (in 10 s) or not start.
    fn run_quietly(&self, argv: &[&str]) -> Result<Option<i32>> {
        let (sender, receiver) = mpsc::channel();
        let (program, args) = argv.split_first().context("empty command")?;
        self.open_stream(
            "process.Process/Start",
            &json!({"process": {"cmd": program, "args": args}, "stdin": false}),
            0,
            sender,
        )?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Ok((_, message)) =
            receiver.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            match message {
                StreamMessage::End { exit_code, .. } => return Ok(Some(exit_code)),
                StreamMessage::Failed { .. } | StreamMessage::Closed(_) => return Ok(None),
                _ => {}
            }
        }
        Ok(None)
    }
}

/// A random number for multipart boundaries.
fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    hasher.finish()
}

/// Percent-encodes a query value.
fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// E2B as a sandbox backend.
pub struct E2bBackend {
    client: Client,
}

impl E2bBackend {
    pub fn new(settings: E2bSettings) -> E2bBackend {
        E2bBackend {
            client: Client::new(settings),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A sandbox another process created, reconnected.
    pub fn attach(&self, sandbox_id: &str) -> Result<E2bSandbox> {
        let lifetime = KEEPALIVE_WINDOW.min(self.client.settings.max_lifetime);
        let created = self.client.connect(sandbox_id, lifetime)?;
        Ok(self.sandbox(created))
    }

    fn sandbox(&self, created: Created) -> E2bSandbox {
        E2bSandbox {
            envd: self.client.envd(&created),
            client: self.client.clone(),
            id: created.sandbox_id,
            born: Instant::now(),
        }
    }
}

impl Backend for E2bBackend {
    fn name(&self) -> &'static str {
        "e2b"
    }

    fn create(&self, run_id: &str) -> Result<Box<dyn Sandbox>> {
        let lifetime = KEEPALIVE_WINDOW.min(self.client.settings.max_lifetime);
        let mut metadata = BTreeMap::new();
        metadata.insert("tool".to_owned(), "parallel-cc".to_owned());
        metadata.insert("runId".to_owned(), run_id.to_owned());
        let created = self.client.create(lifetime, &metadata)?;
        let sandbox = self.sandbox(created);
        // From here on the sandbox costs money: make sure it goes if the
        // workspace cannot even be made.
        if let Err(err) = sandbox.make_workspace() {
            let _ = sandbox.destroy();
            return Err(err);
        }
        Ok(Box::new(sandbox))
    }

    fn kill(&self, sandbox_id: &str, process: Option<ProcessHandle>) -> Result<bool> {
        if self.client.settings.debug {
            if let Some(process) = process {
                let envd = self.client.envd(&Created::debug(sandbox_id));
                return envd.signal_group(process.pid, "SIGNAL_SIGKILL");
            }
            return Ok(false);
        }
        self.client.kill(sandbox_id)
    }

    fn is_running(&self, sandbox_id: &str, _process: Option<ProcessHandle>) -> bool {
        self.client
            .state(sandbox_id)
            .ok()
            .flatten()
            .is_some_and(|s| s.get("state").and_then(Value::as_str) != Some("paused"))
    }
}

/// One E2B sandbox.
pub struct E2bSandbox {
    client: Client,
    envd: Envd,
    id: String,
    born: Instant,
}

impl E2bSandbox {
    fn make_workspace(&self) -> Result<()> {
        let exit = self.run_plain(&["mkdir", "-p", WORKSPACE])?;
        if !exit.success() {
            anyhow::bail!("cannot create the workspace in the E2B sandbox");
        }
        Ok(())
    }

    /// Runs a short command and waits for it, output discarded.
    fn run_plain(&self, argv: &[&str]) -> Result<Exit> {
        let spec = CommandSpec {
            argv: argv.iter().map(|s| (*s).to_owned()).collect(),
            env: Vec::new(),
        };
        self.run_in(&spec, None, &mut |_| Flow::Continue)
    }

    /// Extends the sandbox's life, within the maximum.
    fn extend(&self) {
        let left = self
            .client
            .settings
            .max_lifetime
            .saturating_sub(self.born.elapsed());
        if !left.is_zero() {
            let _ = self
                .client
                .set_timeout(&self.id, KEEPALIVE_WINDOW.min(left));
        }
    }

    /// Runs a command in `cwd` (default: the home), in a session of its
    /// own, streaming its output; reconnects when the stream is cut off or
    /// falls silent while the process goes on.
    fn run_in(
        &self,
        spec: &CommandSpec,
        cwd: Option<&str>,
        on_event: &mut dyn FnMut(RunEvent<'_>) -> Flow,
    ) -> Result<Exit> {
        if spec.argv.is_empty() {
            return Err(UserError::new("the command is empty").into());
        }
        let envs: BTreeMap<&str, &str> = spec
            .env
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "PATH" | "HOME" | "TMPDIR" | "USER" | "LOGNAME"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // envd signals only the PID it started: `setsid` makes that PID the
        // leader of a group holding everything the command starts, so the
        // group can be ended as a whole.
        let mut process = json!({"cmd": "setsid", "args": spec.argv, "envs": envs});
        if let Some(cwd) = cwd {
            process["cwd"] = json!(cwd);
        }
        let (sender, receiver) = mpsc::channel();
        let mut generation = 0;
        self.envd.open_stream(
            "process.Process/Start",
            &json!({"process": process, "stdin": false}),
            generation,
            sender.clone(),
        )?;
        // Three keepalives missed: the connection is as good as gone.
        let silence_limit = self.client.settings.keepalive * 3;
        let mut last_heard = Instant::now();
        // Output stops when the command ends, but envd's end event waits for
        // its output pipes: a background job holding them holds the end
        // back. After a silence, look whether the leader still runs.
        let mut last_data = Instant::now();
        let mut leader_checked = Instant::now();
        let mut leftovers_killed = false;
        let mut pid: Option<i64> = None;
        let mut buffers = [Vec::new(), Vec::new()];
        let mut stop_sent: Option<Instant> = None;
        let mut kill_sent = false;
        let started = Instant::now();
        let mut last_extend: Option<Instant> = None;
        let mut reconnects = 0;
        let end = loop {
            let message = match receiver.recv_timeout(Duration::from_millis(100)) {
                Ok((from, message)) if from == generation => {
                    last_heard = Instant::now();
                    Some(message)
                }
                // A stream given up on still talking: not listened to.
                Ok(_) => None,
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    Some(StreamMessage::Closed("the stream ended".into()))
                }
            };
            let message = match message {
                None if last_heard.elapsed() >= silence_limit => Some(StreamMessage::Closed(
                    format!("nothing heard for {} s", silence_limit.as_secs()),
                )),
                other => other,
            };
            let flow = match message {
                Some(StreamMessage::Start(started)) => {
                    if pid.is_none() {
                        pid = Some(started);
                        on_event(RunEvent::Started(ProcessHandle {
                            pid: started,
                            start: None,
                        }))
                    } else {
                        Flow::Continue
                    }
                }
                Some(StreamMessage::Data(stream, bytes)) => {
                    reconnects = 0;
                    last_data = Instant::now();
                    let buffer = &mut buffers[usize::from(stream == OutputStream::Stderr)];
                    buffer.extend_from_slice(&bytes);
                    let mut flow = Flow::Continue;
                    while let Some(at) = buffer.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buffer.drain(..=at).collect();
                        let text = String::from_utf8_lossy(&line);
                        if on_event(RunEvent::Line(stream, text.trim_end_matches(['\n', '\r'])))
                            == Flow::Stop
                        {
                            flow = Flow::Stop;
                        }
                    }
                    flow
                }
                Some(StreamMessage::Keepalive) => on_event(RunEvent::Tick),
                Some(StreamMessage::End { exit_code, status }) => break Some((exit_code, status)),
                Some(StreamMessage::Failed { code, message }) if pid.is_none() => {
                    anyhow::bail!("the E2B sandbox did not start the command ({code}): {message}");
                }
                // Connect found no such process: it ended while the stream
                // was down, and envd kept nothing of it.
                Some(StreamMessage::Failed { code, .. }) if code == "not_found" => break None,
                Some(StreamMessage::Failed { code, message }) => {
                    self.reconnect(
                        pid,
                        &mut reconnects,
                        &mut generation,
                        &sender,
                        &format!("{code}: {message}"),
                    )?;
                    last_heard = Instant::now();
                    Flow::Continue
                }
                Some(StreamMessage::Closed(error)) => {
                    self.reconnect(pid, &mut reconnects, &mut generation, &sender, &error)?;
                    last_heard = Instant::now();
                    Flow::Continue
                }
                None => on_event(RunEvent::Tick),
            };
            let due = match last_extend {
                None => started.elapsed() >= EXTEND_FIRST,
                Some(at) => at.elapsed() >= EXTEND_EVERY,
            };
            if due {
                last_extend = Some(Instant::now());
                self.extend();
            }
            let keepalive = self.client.settings.keepalive;
            if let Some(leader) = pid.filter(|_| stop_sent.is_none() && !leftovers_killed) {
                if last_data.elapsed() >= keepalive && leader_checked.elapsed() >= keepalive {
                    leader_checked = Instant::now();
                    if !self.envd.still_running(leader) {
                        leftovers_killed = true;
                        let _ = self.envd.signal_group(leader, "SIGNAL_SIGKILL");
                    }
                }
            }
            if flow == Flow::Stop && stop_sent.is_none() {
                stop_sent = Some(Instant::now());
                if let Some(pid) = pid {
                    let _ = self.envd.signal_group(pid, "SIGNAL_SIGTERM");
                }
            }
            if let Some(sent) = stop_sent {
                if sent.elapsed() >= KILL_GRACE && !kill_sent {
                    kill_sent = true;
                    if let Some(pid) = pid {
                        let _ = self.envd.signal_group(pid, "SIGNAL_SIGKILL");
                    }
                }
                if sent.elapsed() >= KILL_GRACE * 2 {
                    break None;
                }
            }
        };
        for (index, buffer) in buffers.iter().enumerate() {
            if !buffer.is_empty() {
                let stream = if index == 0 {
                    OutputStream::Stdout
                } else {
                    OutputStream::Stderr
                };
                on_event(RunEvent::Line(stream, &String::from_utf8_lossy(buffer)));
            }
        }
        Ok(match end {
            Some((code, status)) => Exit {
                code: (code >= 0).then_some(code),
                signal: (code < 0 || status.starts_with("signal")).then_some(9),
                stopped: stop_sent.is_some(),
            },
            None => Exit {
                code: None,
                signal: None,
                stopped: stop_sent.is_some(),
            },
        })
    }

    /// Follows a running process again on a new stream (`generation` moves
    /// on, so the old stream is no longer listened to).
    fn reconnect(
        &self,
        pid: Option<i64>,
        reconnects: &mut u32,
        generation: &mut u64,
        sender: &mpsc::Sender<(u64, StreamMessage)>,
        why: &str,
    ) -> Result<()> {
        let Some(pid) = pid else {
            anyhow::bail!("the E2B sandbox ended the command before it started: {why}");
        };
        loop {
            if *reconnects >= 5 {
                anyhow::bail!("lost the command's output stream: {why}");
            }
            *reconnects += 1;
            *generation += 1;
            std::thread::sleep(backoff(*reconnects, None));
            match self.envd.open_stream(
                "process.Process/Connect",
                &json!({"process": {"pid": pid}}),
                *generation,
                sender.clone(),
            ) {
                Ok(()) => return Ok(()),
                // The sandbox went (killed from elsewhere, or timed out).
                Err(err) if err.downcast_ref::<SandboxGone>().is_some() => return Err(err),
                Err(err) if *reconnects >= 5 => return Err(err),
                Err(_) => {}
            }
        }
    }
}

impl Sandbox for E2bSandbox {
    fn info(&self) -> SandboxInfo {
        SandboxInfo {
            backend: "e2b".to_owned(),
            sandbox_id: self.id.clone(),
            workspace: WORKSPACE.to_owned(),
            confinement: "e2b".to_owned(),
        }
    }

    fn upload(&self, archive: &mut dyn Read) -> Result<u64> {
        let mut counter = CountingReader {
            inner: archive,
            count: 0,
        };
        self.envd.upload("workspace.tar.gz", &mut counter)?;
        let spec = CommandSpec {
            argv: [
                "sh",
                "-c",
                "tar -xzf ../workspace.tar.gz -C . && rm -f ../workspace.tar.gz",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
            env: Vec::new(),
        };
        let exit = self.run_in(&spec, Some(WORKSPACE), &mut |_| Flow::Continue)?;
        if !exit.success() {
            anyhow::bail!("cannot unpack the workspace in the E2B sandbox");
        }
        Ok(counter.count)
    }

    fn run(
        &self,
        command: &CommandSpec,
        on_event: &mut dyn FnMut(RunEvent<'_>) -> Flow,
    ) -> Result<Exit> {
        let mut leader = None;
        let exit = self.run_in(command, Some(WORKSPACE), &mut |event| {
            if let RunEvent::Started(handle) = &event {
                leader = Some(handle.pid);
            }
            on_event(event)
        });
        // The agent's end is not its group's: what it left running (a
        // child that ignored SIGTERM, which envd's end event no longer
        // waits for once the output was given up on, or a background job)
        // goes with it.
        if let Some(pid) = leader {
            let _ = self.envd.signal_group(pid, "SIGNAL_SIGKILL");
        }
        exit
    }

    fn download(&self, path: &str, dest: &Path) -> Result<()> {
        let source = if path.is_empty() { "." } else { path };
        let spec = CommandSpec {
            argv: vec![
                "tar".to_owned(),
                "-czf".to_owned(),
                "../download.tar.gz".to_owned(),
                "-C".to_owned(),
                source.to_owned(),
                ".".to_owned(),
            ],
            env: Vec::new(),
        };
        let exit = self.run_in(&spec, Some(WORKSPACE), &mut |_| Flow::Continue)?;
        if !exit.success() {
            anyhow::bail!("cannot pack {source} in the E2B sandbox");
        }
        let mut archive = Vec::new();
        self.envd.download("download.tar.gz", &mut archive)?;
        let _ = self.run_plain(&["rm", "-f", "download.tar.gz"]);
        std::fs::create_dir_all(dest)?;
        pack::unpack(&archive[..], dest)?;
        Ok(())
    }

    fn local_path(&self, _path: &str) -> Option<std::path::PathBuf> {
        None
    }

    fn write_private_file(&self, path: &str, bytes: &[u8]) -> Result<String> {
        let mut reader = bytes;
        self.envd.upload(path, &mut reader)?;
        let exit = self.run_plain(&["chmod", "600", path])?;
        if !exit.success() {
            anyhow::bail!("cannot protect {path} in the E2B sandbox");
        }
        Ok(format!("{HOME}/{path}"))
    }

    fn remove_file(&self, path: &str) -> Result<()> {
        self.run_plain(&["rm", "-f", path])?;
        Ok(())
    }

    fn destroy(&self) -> Result<()> {
        if self.client.settings.debug {
            return Ok(());
        }
        self.client.kill(&self.id).map(drop)
    }
}

struct CountingReader<'a> {
    inner: &'a mut dyn Read,
    count: u64,
}

impl Read for CountingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_end_events_default_to_zero() {
        let framed =
            envelope(&json!({"event": {"end": {"exited": true, "status": "exit status 0"}}}));
        let (flags, payload) = read_envelope(&mut &framed[..]).unwrap().unwrap();
        assert_eq!(flags, 0);
        match parse_event(&payload) {
            Some(StreamMessage::End { exit_code, .. }) => assert_eq!(exit_code, 0),
            other => panic!("{other:?}"),
        }
        let data = br#"{"event":{"data":{"stdout":"aGk="}}}"#;
        match parse_event(data) {
            Some(StreamMessage::Data(OutputStream::Stdout, bytes)) => assert_eq!(bytes, b"hi"),
            other => panic!("{other:?}"),
        }
        assert!(read_envelope(&mut &b""[..]).unwrap().is_none());
        assert!(read_envelope(&mut &b"\0\0"[..]).is_err());
    }

    #[test]
    fn envd_versions_are_read_and_ordered() {
        assert_eq!(EnvdVersion::parse("0.6.13"), Some(EnvdVersion(0, 6, 13)));
        assert_eq!(EnvdVersion::parse("0.5.7-rc.1"), Some(EnvdVersion(0, 5, 7)));
        assert_eq!(EnvdVersion::parse("v1.2"), Some(EnvdVersion(1, 2, 0)));
        assert_eq!(EnvdVersion::parse("latest"), None);
        assert!(EnvdVersion(0, 3, 9) < EnvdVersion::DEFAULT_USER);
        assert!(EnvdVersion(0, 5, 6) < EnvdVersion::OCTET_STREAM_UPLOAD);
        assert!(EnvdVersion(0, 5, 10) > EnvdVersion::OCTET_STREAM_UPLOAD);
    }

    #[test]
    fn the_proxy_tells_a_missing_sandbox_from_a_closed_port_and_a_transition() {
        let not_found = r#"{"sandboxId":"i1","message":"The sandbox was not found","code":502}"#;
        let port = r#"{"sandboxId":"i1","message":"The sandbox is running but port is not open","port":49983,"code":502}"#;
        let moving = r#"{"sandboxId":"i1","message":"The sandbox is still transitioning. Try again in a moment.","code":409}"#;
        assert_eq!(proxy_refusal(502, not_found), Some(ProxyRefusal::NotFound));
        assert_eq!(proxy_refusal(502, port), Some(ProxyRefusal::PortClosed));
        assert_eq!(
            proxy_refusal(409, moving),
            Some(ProxyRefusal::Transitioning)
        );
        assert_eq!(proxy_refusal(502, ""), Some(ProxyRefusal::NotFound));
        assert_eq!(proxy_refusal(500, not_found), None);
        assert!(retry_refused("i1", 502, not_found, 0)
            .unwrap_err()
            .downcast_ref::<SandboxGone>()
            .is_some());
        assert!(retry_refused("i1", 502, port, 0).unwrap());
        assert!(!retry_refused("i1", 409, moving, TRANSITION_RETRIES).unwrap());
        let text = format!("{:#}", refused_error("upload", "i1", 502, port));
        assert!(text.contains("envd port 49983 is not open"), "{text}");
    }

    #[test]
    fn a_404_naming_a_sandbox_is_not_a_missing_route() {
        assert!(json_error_names_sandbox(
            r#"{"code":404,"message":"sandbox \"i1\" doesn't exist or you don't have access to it"}"#
        ));
        assert!(!json_error_names_sandbox("404 page not found"));
        assert!(!json_error_names_sandbox(
            r#"{"code":404,"message":"no such endpoint"}"#
        ));
    }

    #[test]
    fn e2b_sandbox_url_wins_over_debug_mode_as_in_the_sdks() {
        let mut settings = E2bSettings {
            api_url: "http://localhost:3000".to_owned(),
            sandbox_url: Some("http://127.0.0.1:9".to_owned()),
            domain: "e2b.app".to_owned(),
            api_key: None,
            debug: true,
            template: "base".to_owned(),
            max_lifetime: Duration::from_secs(60),
            max_retries: 0,
            keepalive: Duration::from_secs(50),
        };
        let envd = |settings: &E2bSettings| {
            Client::new(settings.clone())
                .envd(&Created::debug("i1"))
                .base
        };
        assert_eq!(envd(&settings), "http://127.0.0.1:9");
        settings.sandbox_url = None;
        assert_eq!(envd(&settings), "http://localhost:49983");
        settings.debug = false;
        assert_eq!(envd(&settings), "https://49983-i1.e2b.app");
    }

    #[test]
    fn a_401_names_the_key() {
        let err = api_error(
            "create sandbox",
            401,
            r#"{"code":401,"message":"Invalid API key"}"#,
        );
        let text = format!("{err:#}");
        assert!(
            text.contains("E2B rejected the API key (HTTP 401): Invalid API key"),
            "{text}"
        );
    }
}
