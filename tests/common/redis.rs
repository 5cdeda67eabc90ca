//! A real `redis-server` (Debian's 7.0, installed into .tools by
//! `.ci/tools.sh`) on a free loopback port, without persistence; stopped
//! when dropped, and restartable on the same port.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{ROOT, TempDir, free_port};

pub fn redis_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("CHAPERONE_REDIS") {
        return PathBuf::from(p);
    }
    let p = Path::new(ROOT).join(".tools/bin/redis-server");
    assert!(
        p.exists(),
        "redis-server is not installed: run `bash .ci/tools.sh` (the test command does)"
    );
    p
}

pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
    extra: Vec<String>,
    /// TLS only, on `port`.
    tls: bool,
}

impl Redis {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// With more arguments (`--requirepass`, ...).
    pub fn start_with(extra: &[&str]) -> Self {
        let mut r = Self {
            child: None,
            port: free_port(),
            dir: TempDir::new("redis"),
            extra: extra.iter().map(|a| (*a).to_owned()).collect(),
            tls: false,
        };
        r.spawn();
        r
    }

    /// TLS only (no plaintext port), with a certificate for `localhost`
    /// from `pki`.
    pub fn start_tls(pki: &super::pki::Pki) -> Self {
        let port = free_port();
        let file = |n: &str| pki.dir.path(n).to_string_lossy().into_owned();
        let mut r = Self {
            child: None,
            port,
            dir: TempDir::new("redis-tls"),
            extra: vec![
                "--port".into(),
                "0".into(),
                "--tls-port".into(),
                port.to_string(),
                "--tls-cert-file".into(),
                file("server.pem"),
                "--tls-key-file".into(),
                file("server-key.pem"),
                "--tls-ca-cert-file".into(),
                file("ca.pem"),
                "--tls-auth-clients".into(),
                "no".into(),
            ],
            tls: true,
        };
        r.spawn();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path("redis.log")).unwrap();
        let child = Command::new(redis_binary())
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir.0)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let started = Instant::now();
        // PONG, or NOAUTH from a server that wants a password: it answers.
        // A TLS server: it accepts connections.
        let answers = |r: &Self| match r.tls {
            true => TcpStream::connect(("127.0.0.1", r.port)).is_ok(),
            false => r
                .command(&["PING"])
                .is_some_and(|r| r == "+PONG\r\n" || r.starts_with("-NOAUTH")),
        };
        while !answers(self) {
            assert!(
                started.elapsed() < super::PATIENCE,
                "redis-server not ready; log:\n{}",
                std::fs::read_to_string(self.dir.path("redis.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server: nothing answers on its port until [`Self::restart`].
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the server without closing its connections (`SIGSTOP`): it
    /// accepts and reads nothing, and answers nothing, until [`Self::resume`].
    #[allow(dead_code)]
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    #[allow(dead_code)]
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("a running server").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// A fresh, empty server on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// One command, its raw reply (`None` if the server does not answer).
    pub fn command(&self, args: &[&str]) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut out = format!("*{}\r\n", args.len());
        for a in args {
            out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(out.as_bytes()).ok()?;
        let mut buf = vec![0u8; 1 << 16];
        let n = s.read(&mut buf).ok()?;
        (n > 0).then(|| String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Every key in the server.
    pub fn keys(&self) -> Vec<String> {
        let reply = self.command(&["KEYS", "*"]).unwrap_or_default();
        reply
            .split("\r\n")
            .filter(|l| !l.is_empty() && !l.starts_with('*') && !l.starts_with('$'))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
