//! The E2B stand-in (`tests/support/e2b_server.py`) driven by E2B's official
//! Python SDK (`tests/support/e2b_sdk_check.py`, the `e2b` package that
//! scripts/test.sh pins in `target/python`): the stand-in the e2b backend is
//! tested against is held to E2B's own client, not to our backend. A newer
//! pin that fails here shows where E2B's protocol moved.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const API_KEY: &str = "e2b_0123456789abcdef0123456789abcdef";

/// The stand-in, stopped when dropped.
struct StandIn {
    child: Child,
    port: u16,
}

impl StandIn {
    fn start(args: &[&str]) -> StandIn {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/e2b_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--api-key", API_KEY])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the port");
        let port = line.trim().parse().expect("the stand-in prints its port");
        StandIn { child, port }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        // SAFETY: signalling our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// Runs the SDK's checks against a stand-in started with `args`; returns
/// whether they passed and what they printed.
fn sdk_check(args: &[&str]) -> (bool, String) {
    let python = support::python();
    let has_sdk = Command::new(&python)
        .args(["-c", "import e2b"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_sdk,
        "{} has no e2b package; scripts/test.sh installs the pinned one into target/python",
        python.display()
    );
    let stand_in = StandIn::start(args);
    let url = format!("http://127.0.0.1:{}", stand_in.port);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/e2b_sdk_check.py");
    let mut child = Command::new(&python)
        .arg(script)
        .env("E2B_API_KEY", API_KEY)
        .env("E2B_API_URL", &url)
        .env("E2B_SANDBOX_URL", &url)
        // The stand-in speaks HTTP/1.1 only.
        .env("E2B_HTTP_VERSION", "1.1")
        .env_remove("E2B_DEBUG")
        .env_remove("E2B_DOMAIN")
        .env_remove("E2B_ACCESS_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the SDK check");
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

#[test]
fn the_official_sdk_gets_from_the_stand_in_what_it_gets_from_e2b() {
    let (passed, printed) = sdk_check(&[]);
    assert!(passed, "{printed}");
    assert!(printed.ends_with("all steps passed\n"), "{printed}");
}

#[test]
fn the_official_sdk_works_with_the_stand_in_as_an_old_envd() {
    // envd 0.3.0: the SDK names the user and uploads multipart forms, and
    // the stand-in refuses what such an envd refused.
    let (passed, printed) = sdk_check(&["--envd-version", "0.3.0"]);
    assert!(passed, "{printed}");
}
