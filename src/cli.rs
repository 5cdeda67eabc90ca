//! The command line: serve | check | explain | scrub | test | schema | flows | diff |
//! report | hash-values | keys | bundle.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Like `println!`, but a closed pipe (`chaperone flows P | head`) is not a panic.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

macro_rules! out_raw {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

macro_rules! err {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

use crate::config::parse_duration;
use crate::ext_proc::ExtProcLimits;
use crate::server::{ServeSettings, compile_context};
use crate::telemetry::{LogFormat, init_logging};

#[derive(Debug, Parser)]
#[command(
    name = "chaperone",
    version,
    about = "Authorizes and scrubs every hop between services, for Envoy"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve ext_authz, ext_proc, health and the admin API.
    Serve(Box<ServeArgs>),
    /// Validate a policy file; exits non-zero with the reason when it is wrong.
    Check { policy: PathBuf },
    /// Run a described request (JSON or YAML: host, method, path, headers,
    /// source_principal) through a policy and say what it decides and why.
    Explain { policy: PathBuf, request: PathBuf },
    /// Apply a hop's data contract to a document on stdin: the scrubbed
    /// document goes to stdout, a summary of findings (classes and counts,
    /// never values) to stderr.
    Scrub {
        #[arg(long)]
        policy: PathBuf,
        #[arg(long)]
        hop: String,
        #[arg(long, value_enum, default_value = "response")]
        direction: Direction,
        /// The body's content type.
        #[arg(long, default_value = "application/json")]
        content_type: String,
        /// Key for `hash` (the same file `serve` uses); random without it.
        #[arg(long, env = "CHAPERONE_HASH_KEY_FILE")]
        hash_key_file: Option<PathBuf>,
        /// One document per line in, one per line out (a refused one as
        /// `{"chaperone_refused":"<code>"}`), for whole sample files.
        #[arg(long)]
        jsonl: bool,
        /// The findings summary on stderr: text, or one JSON object.
        #[arg(long, value_enum, default_value = "text")]
        report: Report,
        /// stdin is one protobuf message (not framed) of the type the hop's
        /// contract names (`message`); stdout the message as it would
        /// cross. `binary` (the default): the wire format; `json`: proto3's
        /// JSON mapping (read, judged in the wire format, printed back).
        #[arg(
            long,
            value_enum,
            num_args = 0..=1,
            default_missing_value = "binary",
            conflicts_with_all = ["jsonl", "content_type"]
        )]
        protobuf: Option<ProtoFormat>,
        /// With --protobuf: the descriptor set (`protoc
        /// --descriptor_set_out`, `buf build`) the message is read and
        /// judged with, in place of the policy's `descriptors`.
        #[arg(long, requires = "protobuf")]
        descriptor: Option<PathBuf>,
        /// With --protobuf: the message's type (`pkg.Message`), in place of
        /// the hop's `message`.
        #[arg(long, requires = "protobuf")]
        message: Option<String>,
    },
    /// Run policy test files against a policy; non-zero exit on any failure.
    Test {
        policy: PathBuf,
        #[arg(required = true)]
        tests: Vec<PathBuf>,
    },
    /// Print the JSON Schema of the policy file (for editors and CI).
    Schema,
    /// Print the data-flow map the policy allows, as Mermaid.
    Flows { policy: PathBuf },
    /// What changing policy OLD into NEW opens and closes: hops, callers,
    /// conditions, fields and data classes crossing each hop, limits,
    /// headers, tokens, trust. Exit 1 when anything opens, 0 when nothing
    /// does, 2 when a policy does not load.
    Diff {
        old: PathBuf,
        new: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: DiffFormat,
    },
    /// Evidence for an assessor, as Markdown: per hop and direction, which
    /// data classes cross in clear, masked, hashed, redacted or dropped, or
    /// are refused, in the body, headers and path and query; who may call
    /// each hop, its token and its limits. Exit 1 when the policy does not
    /// load.
    Report { policy: PathBuf },
    /// Read values, one per line, on stdin and print each as the `hash`
    /// action writes it under the hashing key: the lines of a dictionary
    /// file that holds no value in the clear.
    HashValues {
        /// The hashing key file `serve` uses.
        #[arg(long, env = "CHAPERONE_HASH_KEY_FILE")]
        hash_key_file: PathBuf,
    },
    /// Signing keys: generate one, print the public JWKS of key files, rotate.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Signed policy bundles: build one, sign it, verify it as `serve` does.
    #[command(subcommand)]
    Bundle(BundleCommand),
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Pack a policy and every file it names (JWKS files, descriptor sets,
    /// dictionaries) into one unsigned bundle, once the policy compiles.
    Build {
        policy: PathBuf,
        /// The bundle to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a bundle with a private key (PKCS#8 PEM, P-256 or Ed25519, or
    /// SEC1 P-256), replacing any signature it had; its kid is the key
    /// file's stem unless --kid says otherwise.
    Sign {
        bundle: PathBuf,
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        kid: Option<String>,
        /// Where to write the signed bundle; default: in place.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify a bundle against public keys (a JWKS or PEM) and compile its
    /// policy, as `serve` does; prints the signer, the version and the files.
    Verify {
        bundle: PathBuf,
        #[arg(long)]
        public_keys: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Write a new private key (PKCS#8 PEM, mode 0600) in the format chaperone
    /// reads; its `kid` is the file name without extension.
    Generate {
        /// File to create; refuses to overwrite.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "es256")]
        alg: KeyAlg,
    },
    /// Print the public JWKS of PEM key files; each key's `kid` is its file stem.
    Jwks { keys: Vec<PathBuf> },
    /// Rotate the signing key of a key directory or Secret, one step per run
    /// when it is due: publish a new key (`--start`), switch `active-kid` to
    /// it after --publish-wait, remove the old key after --retire-after.
    /// Where it stands is kept in the set (file `rotation`): run it again
    /// until it says the rotation is complete; a run that is not due, or
    /// repeated, changes nothing.
    Rotate {
        /// The key directory (what `serve --signing-keys` reads), changed in place.
        #[arg(required_unless_present = "secret", conflicts_with = "secret")]
        dir: Option<PathBuf>,
        /// Instead: a Kubernetes Secret as JSON (`kubectl get secret NAME -o
        /// json`; `-` for stdin); the Secret to store is printed on stdout,
        /// for `kubectl replace -f -`.
        #[arg(long)]
        secret: Option<PathBuf>,
        /// Begin a rotation when none is in progress.
        #[arg(long)]
        start: bool,
        /// The new key's kid; default `chaperone-YYYYMMDD-HHMMSS` (UTC).
        #[arg(long, requires = "start")]
        kid: Option<String>,
        #[arg(long, value_enum, default_value = "es256", requires = "start")]
        alg: KeyAlg,
        /// From publishing to signing: at least the verifiers' JWKS cache
        /// time (Envoy jwt_authn's `cache_duration`, 10m unless set; istiod
        /// 20m) plus the time for a Secret change to reach every replica.
        #[arg(long, default_value = "30m", value_parser = duration)]
        publish_wait: Duration,
        /// From switching to removing the old key: at least the policy's
        /// `tokens.max_ttl` (at most 1h) plus that propagation time.
        #[arg(long, default_value = "70m", value_parser = duration)]
        retire_after: Duration,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Direction {
    /// What the callee would see.
    Request,
    /// What the caller would get back.
    Response,
}

/// How `scrub --protobuf` reads and writes a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtoFormat {
    /// The protobuf wire format.
    Binary,
    /// proto3's canonical JSON mapping.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Text,
    /// For a pull-request comment.
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Report {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KeyAlg {
    Es256,
    Eddsa,
}

/// A duration like 30s, 5m or 500ms; a bare 0 is zero.
fn duration(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_duration(s)
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// gRPC listener (ext_authz, ext_proc, health, admin API).
    #[arg(long, env = "CHAPERONE_GRPC_ADDR", default_value = "0.0.0.0:9191")]
    pub grpc_addr: SocketAddr,
    /// HTTP admin listener (/livez, /readyz, /metrics).
    #[arg(long, env = "CHAPERONE_ADMIN_ADDR", default_value = "0.0.0.0:9192")]
    pub admin_addr: SocketAddr,
    /// Policy file; without it, the embedded demo policy.
    #[arg(long, env = "CHAPERONE_POLICY")]
    pub policy: Option<PathBuf>,
    /// Instead of --policy: a signed policy bundle at this HTTP(S) URL,
    /// polled with If-None-Match every --bundle-poll-interval.
    #[arg(long, env = "CHAPERONE_BUNDLE_URL", conflicts_with_all = ["policy", "bundle_file"], requires = "bundle_public_keys")]
    pub bundle_url: Option<String>,
    /// Instead of --policy: a signed policy bundle file (a mounted volume),
    /// checked every --watch-interval.
    #[arg(
        long,
        env = "CHAPERONE_BUNDLE_FILE",
        conflicts_with = "policy",
        requires = "bundle_public_keys"
    )]
    pub bundle_file: Option<PathBuf>,
    /// The public keys bundles must be signed with: a JWKS (`chaperone keys
    /// jwks signer.pem`) or PEM public keys. Read once at start.
    #[arg(long, env = "CHAPERONE_BUNDLE_PUBLIC_KEYS")]
    pub bundle_public_keys: Option<PathBuf>,
    /// How often --bundle-url is polled.
    #[arg(long, env = "CHAPERONE_BUNDLE_POLL_INTERVAL", default_value = "30s", value_parser = duration)]
    pub bundle_poll_interval: Duration,
    /// Key for hashed principals (at least 32 bytes); random per process without it.
    #[arg(long, env = "CHAPERONE_HASH_KEY_FILE")]
    pub hash_key_file: Option<PathBuf>,
    /// Directory of signing keys: every `<kid>.pem` (PKCS#8) is published in
    /// the JWKS, and the one named by the file `active-kid` signs. Re-read on
    /// change. Without it, an ephemeral key is generated at start-up.
    #[arg(long, env = "CHAPERONE_SIGNING_KEYS")]
    pub signing_keys: Option<PathBuf>,
    /// After SIGTERM, how long to keep serving while /readyz and gRPC health
    /// say "not ready", so load balancers stop sending before listeners close.
    #[arg(long, env = "CHAPERONE_DRAIN_DELAY", default_value = "2s", value_parser = duration)]
    pub drain_delay: Duration,
    /// How long in-flight calls may take to finish after SIGTERM.
    #[arg(long, env = "CHAPERONE_DRAIN_GRACE", default_value = "10s", value_parser = duration)]
    pub drain_grace: Duration,
    /// How often the policy file is checked for changes.
    #[arg(long, env = "CHAPERONE_WATCH_INTERVAL", default_value = "2s", value_parser = duration)]
    pub watch_interval: Duration,
    /// Server certificate chain (PEM) for mTLS on the gRPC listener.
    #[arg(long, env = "CHAPERONE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, env = "CHAPERONE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA bundle (PEM) that client certificates must chain to; when given,
    /// clients without a valid certificate are refused.
    #[arg(long, env = "CHAPERONE_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// A plaintext listener serving only grpc.health.v1 (for probes that
    /// cannot do mTLS); off when unset.
    #[arg(long, env = "CHAPERONE_HEALTH_ADDR")]
    pub health_addr: Option<SocketAddr>,
    /// Threads serving gRPC (each owns its connections); one per CPU when unset.
    #[arg(long, env = "CHAPERONE_WORKER_THREADS")]
    pub worker_threads: Option<usize>,
    /// HTTP/2 streams per connection.
    #[arg(long, env = "CHAPERONE_MAX_CONCURRENT_STREAMS", default_value_t = 1024)]
    pub max_concurrent_streams: u32,
    /// How long a gRPC connection is served (give or take 10%, at random)
    /// before it is asked to go with an HTTP/2 GOAWAY, so that Envoy
    /// reconnects and replicas added later get their share; 0 keeps
    /// connections as long as Envoy does.
    #[arg(long, env = "CHAPERONE_MAX_CONNECTION_AGE", default_value = "0", value_parser = duration)]
    pub max_connection_age: Duration,
    /// After the GOAWAY, how long the calls in flight on the connection may
    /// take to finish before it is closed.
    #[arg(long, env = "CHAPERONE_MAX_CONNECTION_AGE_GRACE", default_value = "30s", value_parser = duration)]
    pub max_connection_age_grace: Duration,
    /// Open ext_proc streams at most.
    #[arg(long, env = "CHAPERONE_MAX_EXT_PROC_STREAMS", default_value_t = 10_000)]
    pub max_ext_proc_streams: usize,
    /// Time to answer one ext_proc message.
    #[arg(long, env = "CHAPERONE_MESSAGE_TIMEOUT", default_value = "2s", value_parser = duration)]
    pub message_timeout: Duration,
    /// Which ext_proc streams authorize their request: `metadata`, those
    /// Envoy marks with `x-chaperone-authorize: true`; `always`, every one
    /// (no ext_authz anywhere in front of this chaperone).
    #[arg(
        long,
        env = "CHAPERONE_EXT_PROC_AUTHORIZE",
        value_enum,
        default_value = "metadata"
    )]
    pub ext_proc_authorize: crate::ext_proc::Authorize,
    /// Verified end-user tokens remembered (a few hundred bytes each), so a
    /// caller's next requests skip the signature check.
    #[arg(long, env = "CHAPERONE_TOKEN_CACHE_ENTRIES", default_value_t = chaperone_core::identity::jwt::DEFAULT_CACHE_ENTRIES as u64, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub token_cache_entries: u64,
    /// OTLP/gRPC collector for traces (`http://host:port`); tracing is off
    /// when unset. `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is used when this is not given.
    #[arg(long, env = "CHAPERONE_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Share of new traces recorded (requests with a `traceparent` follow its
    /// sampled flag).
    #[arg(long, env = "CHAPERONE_TRACE_SAMPLE_RATIO", default_value_t = 1.0)]
    pub trace_sample_ratio: f64,
    /// Decision events also go to the OTLP endpoint, as log records (needs
    /// an OTLP endpoint).
    #[arg(
        long,
        env = "CHAPERONE_OTLP_LOGS",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub otlp_logs: bool,
    /// Where budgets are counted: `redis://host:port` or `rediss://host:port`
    /// (TLS), a Redis or Valkey every replica shares. Without it, in this
    /// process (one replica's budgets).
    #[arg(long, env = "CHAPERONE_STATE")]
    pub state: Option<String>,
    /// The store's password (AUTH), in a file.
    #[arg(long, env = "CHAPERONE_STATE_PASSWORD_FILE", requires = "state")]
    pub state_password_file: Option<PathBuf>,
    /// CA bundle (PEM) the store's certificate chains to (`rediss://`); the
    /// platform's roots without it.
    #[arg(long, env = "CHAPERONE_STATE_CA_FILE", requires = "state")]
    pub state_ca_file: Option<PathBuf>,
    /// Longest wait for the store per message (a connection, its set-up and
    /// the round trip); past it, each budget does what its
    /// `on_store_error` says.
    #[arg(long, env = "CHAPERONE_STATE_TIMEOUT", default_value = "50ms", value_parser = duration)]
    pub state_timeout: Duration,
    /// Connections to the store, at most; with 2 or more, the first carries
    /// the round trips no message waits for (alerts), batched.
    #[arg(long, env = "CHAPERONE_STATE_POOL", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub state_pool: u16,
    /// After the store fails three times in a row, how long it is left alone (messages go by
    /// `on_store_error` at once) before one message tries it again.
    #[arg(long, env = "CHAPERONE_STATE_RETRY_AFTER", default_value = "5s", value_parser = duration)]
    pub state_retry_after: Duration,
    #[arg(long, env = "CHAPERONE_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,
    /// Log filter (RUST_LOG wins when set).
    #[arg(long, env = "CHAPERONE_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => {
            init_logging(args.log_format, &args.log_level);
            let otlp_logs = args.otlp_logs;
            let settings = ServeSettings {
                grpc_addr: args.grpc_addr,
                admin_addr: args.admin_addr,
                policy: args.policy,
                hash_key_file: args.hash_key_file,
                signing_keys: args.signing_keys,
                drain_grace: args.drain_grace,
                drain_delay: args.drain_delay,
                watch_interval: args.watch_interval,
                max_concurrent_streams: args.max_concurrent_streams,
                connection_age: crate::connection::ConnectionAge::new(
                    args.max_connection_age,
                    args.max_connection_age_grace,
                ),
                grpc_threads: crate::server::grpc_threads(args.worker_threads),
                tls: match (args.tls_cert, args.tls_key) {
                    (Some(cert), Some(key)) => Some(crate::tls::TlsFiles {
                        cert,
                        key,
                        client_ca: args.tls_client_ca,
                    }),
                    _ => None,
                },
                health_addr: args.health_addr,
                trace: args
                    .otlp_endpoint
                    .or_else(|| std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").ok())
                    .or_else(|| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok())
                    .filter(|e| !e.is_empty())
                    .map(|endpoint| crate::telemetry::trace::TraceSettings {
                        endpoint,
                        service_name: std::env::var("OTEL_SERVICE_NAME")
                            .ok()
                            .filter(|n| !n.is_empty())
                            .unwrap_or_else(|| "chaperone".to_owned()),
                        sample_ratio: args.trace_sample_ratio,
                        logs: otlp_logs,
                    }),
                ext_proc: ExtProcLimits {
                    max_streams: args.max_ext_proc_streams,
                    message_timeout: args.message_timeout,
                    authorize: args.ext_proc_authorize,
                },
                token_cache_entries: usize::try_from(args.token_cache_entries)
                    .unwrap_or(chaperone_core::identity::jwt::DEFAULT_CACHE_ENTRIES),
                bundle: match (args.bundle_url, args.bundle_file, args.bundle_public_keys) {
                    (Some(url), _, Some(public_keys)) => Some(crate::server::BundleSettings {
                        from: crate::config::BundleFrom::Url(url),
                        public_keys,
                        poll_interval: args.bundle_poll_interval,
                    }),
                    (None, Some(file), Some(public_keys)) => Some(crate::server::BundleSettings {
                        from: crate::config::BundleFrom::File(file),
                        public_keys,
                        poll_interval: args.bundle_poll_interval,
                    }),
                    _ => None,
                },
                state: {
                    let (password_file, ca_file) = (args.state_password_file, args.state_ca_file);
                    args.state.map(|url| crate::state::RedisSettings {
                        url,
                        password_file,
                        ca_file,
                        pool: usize::from(args.state_pool),
                        timeout: args.state_timeout,
                    })
                },
                state_retry_after: args.state_retry_after,
            };
            if otlp_logs && settings.trace.is_none() {
                err!("chaperone: --otlp-logs needs an OTLP endpoint (--otlp-endpoint)");
                return ExitCode::from(2);
            }
            match crate::server::serve(settings).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "chaperone stopped");
                    err!("chaperone: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Check { policy } => check(&policy),
        Command::Explain { policy, request } => explain(&policy, &request).await,
        Command::Keys(cmd) => keys(cmd),
        Command::Bundle(cmd) => bundle(cmd),
        Command::Test { policy, tests } => test(&policy, &tests).await,
        Command::Schema => {
            out!("{}", POLICY_SCHEMA.trim_end());
            ExitCode::SUCCESS
        }
        Command::Flows { policy } => match load(&policy) {
            Ok(p) => {
                out_raw!("{}", crate::policy::flows::mermaid(&p));
                ExitCode::SUCCESS
            }
            Err(e) => {
                err!("{e}");
                ExitCode::from(1)
            }
        },
        Command::Diff { old, new, format } => diff(&old, &new, format),
        Command::Report { policy } => match load(&policy) {
            Ok(p) => {
                out_raw!("{}", crate::policy::report::markdown(&p));
                ExitCode::SUCCESS
            }
            Err(e) => {
                err!("chaperone report: {e}");
                ExitCode::from(1)
            }
        },
        Command::Scrub {
            policy,
            hop,
            direction,
            content_type,
            hash_key_file,
            jsonl,
            report,
            protobuf,
            descriptor,
            message,
        } => scrub(
            &policy,
            &hop,
            direction,
            if protobuf.is_some() {
                "application/grpc"
            } else {
                &content_type
            },
            hash_key_file.as_ref(),
            match protobuf {
                Some(format) => Framed::Protobuf(Proto {
                    format,
                    descriptor: descriptor.as_ref(),
                    message: message.as_deref(),
                }),
                None if jsonl => Framed::Lines,
                None => Framed::Whole,
            },
            report,
        ),
        Command::HashValues { hash_key_file } => hash_values(&hash_key_file),
    }
}

/// `hash-values`: each value on stdin, one per line, as a dictionary
/// compares it (`detect::dictionary_form`), written as the `h:` token of
/// that form under the hashing key; empty lines and `#` comments kept. The
/// first line says how many words the longest value holds, which bounds
/// what a dictionary of these hashes looks at. Errors name the line.
fn hash_values(key_file: &PathBuf) -> ExitCode {
    use crate::scrub::detect::{MAX_ENTRY_BYTES, MAX_WORDS, WORDS_LINE, dictionary_form};
    use std::io::{BufRead, Write};
    let key = match crate::server::hash_key(Some(key_file)) {
        Ok(k) => k,
        Err(e) => {
            err!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut lines = Vec::new();
    let mut words = 1;
    for (i, line) in std::io::stdin().lock().lines().enumerate() {
        let fail = |e: String| {
            err!("error: stdin line {}: {e}", i + 1);
            ExitCode::from(2)
        };
        let line = match line {
            Ok(l) => l,
            Err(e) => return fail(e.to_string()),
        };
        let entry = line.trim();
        if entry.is_empty() || entry.starts_with('#') {
            lines.push(line);
            continue;
        }
        if entry.len() > MAX_ENTRY_BYTES {
            return fail(format!("a value is at most {MAX_ENTRY_BYTES} bytes"));
        }
        let form = dictionary_form(entry);
        let n = form.split(' ').count();
        if form.is_empty() || n > MAX_WORDS {
            return fail(format!("a value holds 1 to {MAX_WORDS} words"));
        }
        words = words.max(n);
        lines.push(crate::scrub::class::hash_token(&form, &key));
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = std::iter::once(format!("{WORDS_LINE}{words}"))
        .chain(lines)
        .try_for_each(|l| writeln!(out, "{l}"))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            err!("error: stdout: {e}");
            ExitCode::from(2)
        }
    }
}

/// The policy file's JSON Schema; `docs/policy.schema.json` in the repository.
pub const POLICY_SCHEMA: &str = include_str!("../docs/policy.schema.json");

async fn test(policy: &PathBuf, files: &[PathBuf]) -> ExitCode {
    let p = match load(policy) {
        Ok(p) => p,
        Err(e) => {
            err!("{e}");
            return ExitCode::from(1);
        }
    };
    crate::config::store::prefetch_keys(&p);
    let engine = crate::policy::Engine::new(crate::secret::HashKey::ephemeral());
    let (mut passed, mut failed) = (0u32, 0u32);
    for file in files {
        let suite: crate::policy::suite::Suite = match std::fs::read(file)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_norway::from_slice(&b).map_err(|e| e.to_string()))
        {
            Ok(s) => s,
            Err(e) => {
                err!("{}: {e}", file.display());
                failed += 1;
                continue;
            }
        };
        for case in &suite.tests {
            match crate::policy::suite::run_case(&engine, &p, case).await {
                None => {
                    passed += 1;
                    out!("ok   {}: {}", file.display(), case.name);
                }
                Some(why) => {
                    failed += 1;
                    out!("FAIL {}: {}\n      {why}", file.display(), case.name);
                }
            }
        }
    }
    out!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// How `scrub` reads stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framed<'a> {
    Whole,
    /// One document per line.
    Lines,
    /// One bare protobuf message: framed as gRPC to be judged, unframed out.
    Protobuf(Proto<'a>),
}

/// How `scrub --protobuf` reads a message, and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Proto<'a> {
    format: ProtoFormat,
    /// In place of the policy's descriptor set.
    descriptor: Option<&'a PathBuf>,
    /// In place of the hop's message type.
    message: Option<&'a str>,
}

/// The contract `scrub --protobuf` judges with: the hop's, its message type
/// and descriptors replaced by `--message` and `--descriptor` where given
/// (whose paths are then checked against that type, as a policy's are).
fn protobuf_contract(
    contract: &crate::scrub::contract::Contract,
    descriptor: Option<&PathBuf>,
    message: Option<&str>,
) -> Result<crate::scrub::contract::Contract, String> {
    use crate::scrub::proto::{Descriptors, MAX_DESCRIPTOR_BYTES};
    use std::io::Read;
    let set = match (descriptor, &contract.message) {
        (Some(path), _) => {
            let mut bytes = Vec::new();
            std::fs::File::open(path)
                .and_then(|f| {
                    f.take(MAX_DESCRIPTOR_BYTES as u64 + 1)
                        .read_to_end(&mut bytes)
                })
                .map_err(|e| format!("{}: {e}", path.display()))?;
            std::sync::Arc::new(
                Descriptors::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?,
            )
        }
        (None, Some(m)) => std::sync::Arc::clone(&m.descriptors),
        (None, None) => return Err("give --descriptor and --message".into()),
    };
    let name = match (message, &contract.message) {
        (Some(name), _) => name.trim_start_matches('.').to_owned(),
        (None, Some(m)) => m.name.clone(),
        (None, None) => return Err("give --message".into()),
    };
    if !set.has(&name) {
        return Err(format!("no message type {name:?} in the descriptors"));
    }
    if descriptor.is_some() || message.is_some() {
        set.check_paths(&name, contract.root())
            .map_err(|e| format!("the hop's contract on {name}: {e}"))?;
    }
    let mut c = contract.clone();
    c.message = Some(crate::scrub::contract::MessageType {
        descriptors: set,
        name,
    });
    Ok(c)
}

fn scrub(
    policy: &PathBuf,
    hop: &str,
    direction: Direction,
    content_type: &str,
    key: Option<&PathBuf>,
    framed: Framed<'_>,
    report: Report,
) -> ExitCode {
    use std::io::{BufRead, Read, Write};
    let jsonl = framed == Framed::Lines;
    let p = match load(policy) {
        Ok(p) => p,
        Err(e) => {
            err!("{e}");
            return ExitCode::from(1);
        }
    };
    let Some(rule) = p.hop(hop) else {
        err!("{}: no hop is named {hop:?}", policy.display());
        return ExitCode::from(1);
    };
    let key = match crate::server::hash_key(key) {
        Ok(k) => k,
        Err(e) => {
            err!("{e}");
            return ExitCode::from(1);
        }
    };
    let contract = match direction {
        Direction::Request => &rule.request_body,
        Direction::Response => &rule.response_body,
    };
    let replaced;
    let contract = match framed {
        Framed::Protobuf(proto) => {
            match protobuf_contract(contract, proto.descriptor, proto.message) {
                Ok(c) => {
                    replaced = c;
                    &replaced
                }
                Err(e) if contract.message.is_none() => {
                    err!(
                        "{}: hop {hop:?} names no protobuf `message` for its {direction:?} body ({e})",
                        policy.display()
                    );
                    return ExitCode::from(1);
                }
                Err(e) => {
                    err!("error: {e}");
                    return ExitCode::from(1);
                }
            }
        }
        _ => contract,
    };
    let json_mapping = match (framed, &contract.message) {
        (
            Framed::Protobuf(Proto {
                format: ProtoFormat::Json,
                ..
            }),
            Some(m),
        ) => Some(m),
        _ => None,
    };
    let headers = crate::scrub::BodyHeaders::typed(content_type);
    let limit = crate::config::contracts::MAX_BODY_BYTES as u64 + 1;
    let mut summary = Summary::new(p.classes.len());
    summary.record_paths = contract
        .records
        .as_ref()
        .map(|r| r.paths.clone())
        .unwrap_or_default();
    let mut stdout = std::io::stdout().lock();
    let one = |body: &[u8], out: &mut dyn Write, summary: &mut Summary| {
        summary.documents += 1;
        let refuse = |summary: &mut Summary, code: &'static str, why: String| {
            *summary.refused.entry(code).or_default() += 1;
            summary.first_refusal.get_or_insert(why);
        };
        // The JSON mapping is read into the wire format, and judged there.
        let wire;
        let body = match json_mapping {
            Some(m) => match crate::scrub::proto::json::encode(body, &m.descriptors, &m.name) {
                Ok(w) => {
                    wire = w;
                    &wire[..]
                }
                Err(e) => {
                    let why = format!("stdin is not the JSON mapping of a {}: {e}", m.name);
                    return refuse(summary, "invalid_json", why);
                }
            },
            None => body,
        };
        let mut framed_body = Vec::new();
        let body = if let Framed::Protobuf(_) = framed {
            crate::scrub::proto::put_frame(&mut framed_body, body);
            &framed_body[..]
        } else {
            body
        };
        let written = match crate::scrub::scrub_body(body, &headers, contract, &p.classes, &key) {
            Ok(o) => {
                summary.findings.merge(&o.findings);
                summary.changed += u32::from(o.body.is_some());
                summary.alerts += u32::from(o.alert);
                let crossed = o.body.as_deref().unwrap_or(body);
                match (framed, crate::scrub::proto::frame(crossed), json_mapping) {
                    (Framed::Protobuf(_), Some((_, message, _)), Some(m)) => {
                        match crate::scrub::proto::json::print(message, &m.descriptors, &m.name) {
                            Ok(text) => out.write_all(text.as_bytes()),
                            Err(e) => {
                                let why = format!("what crosses has no JSON mapping: {e}");
                                return refuse(summary, "internal", why);
                            }
                        }
                    }
                    (Framed::Protobuf(_), Some((_, message, _)), None) => {
                        let _ = out.write_all(message);
                        return;
                    }
                    _ => out.write_all(crossed),
                }
            }
            Err(e) => {
                refuse(summary, e.code(), e.to_string());
                if !jsonl {
                    return;
                }
                write!(out, "{{\"chaperone_refused\":\"{}\"}}", e.code())
            }
        };
        let _ = written.and_then(|()| out.write_all(b"\n"));
    };
    if jsonl {
        let mut stdin = std::io::stdin().lock();
        let mut line = Vec::new();
        loop {
            line.clear();
            // A line longer than a body may be is read no further.
            match (&mut stdin).take(limit).read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    err!("stdin: {e}");
                    return ExitCode::from(1);
                }
            }
            if line.last() != Some(&b'\n') && line.len() as u64 >= limit {
                err!("stdin: a line is longer than {} bytes", limit - 1);
                return ExitCode::from(1);
            }
            let doc = line.strip_suffix(b"\n").unwrap_or(&line);
            let doc = doc.strip_suffix(b"\r").unwrap_or(doc);
            if doc.is_empty() {
                let _ = stdout.write_all(b"\n");
                continue;
            }
            one(doc, &mut stdout, &mut summary);
        }
    } else {
        let mut body = Vec::new();
        if let Err(e) = std::io::stdin().take(limit).read_to_end(&mut body) {
            err!("stdin: {e}");
            return ExitCode::from(1);
        }
        one(&body, &mut stdout, &mut summary);
    }
    let _ = stdout.flush();
    match report {
        Report::Json => err!("{}", summary.json(&p.classes)),
        Report::Text => err!("{}", summary.text(&p.classes, jsonl)),
    }
    if summary.refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// What `chaperone scrub` saw: counts only, never a value.
struct Summary {
    documents: u32,
    changed: u32,
    alerts: u32,
    findings: crate::scrub::Findings,
    /// The paths the contract counts records of (its records budgets').
    record_paths: Vec<String>,
    refused: std::collections::BTreeMap<&'static str, u32>,
    /// Why the first refused document was refused (no value in it).
    first_refusal: Option<String>,
}

impl Summary {
    fn new(classes: usize) -> Self {
        Self {
            documents: 0,
            changed: 0,
            alerts: 0,
            findings: crate::scrub::Findings::new(classes),
            record_paths: Vec::new(),
            refused: std::collections::BTreeMap::new(),
            first_refusal: None,
        }
    }

    fn json(&self, classes: &crate::scrub::class::Classes) -> String {
        let findings: serde_json::Map<String, serde_json::Value> = self
            .findings
            .by_class(classes)
            .into_iter()
            .map(|(c, n)| (c.to_owned(), n.into()))
            .collect();
        let mut summary = serde_json::json!({
            "documents": self.documents,
            "changed": self.changed,
            "refused": self.refused,
            "alerts": self.alerts,
            "findings": findings,
        });
        if !self.record_paths.is_empty() {
            summary["records"] = self
                .records()
                .map(|(path, n)| (path.to_owned(), n.into()))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        summary.to_string()
    }

    /// (path, records) for each path the contract counts.
    fn records(&self) -> impl Iterator<Item = (&str, u64)> {
        self.record_paths
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_str(), self.findings.records(i)))
    }

    fn text(&self, classes: &crate::scrub::class::Classes, batch: bool) -> String {
        let counts: Vec<String> = self
            .findings
            .by_class(classes)
            .iter()
            .map(|(c, n)| format!("{c}={n}"))
            .collect();
        let mut found = if counts.is_empty() {
            "none".to_owned()
        } else {
            counts.join(" ")
        };
        if !self.record_paths.is_empty() {
            let records: Vec<String> = self.records().map(|(p, n)| format!("{p}={n}")).collect();
            found.push_str(&format!("; records: {}", records.join(" ")));
        }
        if batch {
            let refused: Vec<String> = self
                .refused
                .iter()
                .map(|(c, n)| format!("{c}={n}"))
                .collect();
            return format!(
                "documents: {}; changed: {}; refused: {}; findings: {found}{}",
                self.documents,
                self.changed,
                if refused.is_empty() {
                    "none".to_owned()
                } else {
                    refused.join(" ")
                },
                if self.alerts > 0 {
                    format!("; over the hop's limit (alert): {}", self.alerts)
                } else {
                    String::new()
                }
            );
        }
        if let (Some(code), Some(why)) = (self.refused.keys().next(), &self.first_refusal) {
            return format!("refused: {why} ({code})");
        }
        format!(
            "findings: {found}{}{}",
            if self.changed > 0 {
                "; changed"
            } else {
                "; unchanged"
            },
            if self.alerts > 0 {
                "; over the hop's limit (alert)"
            } else {
                ""
            }
        )
    }
}

fn key_kind(alg: KeyAlg) -> crate::token::KeyKind {
    match alg {
        KeyAlg::Es256 => crate::token::KeyKind::Es256,
        KeyAlg::Eddsa => crate::token::KeyKind::EdDsa,
    }
}

fn keys(cmd: KeysCommand) -> ExitCode {
    use crate::token::{SigningKey, jwks_document};
    let result = match cmd {
        KeysCommand::Rotate {
            dir,
            secret,
            start,
            kid,
            alg,
            publish_wait,
            retire_after,
        } => {
            let now = crate::clock::Clock::now_unix(&crate::clock::SystemClock);
            let new = start.then(|| crate::token::rotation::NewKey {
                kid: kid.unwrap_or_else(|| crate::token::rotation::default_kid(now)),
                kind: key_kind(alg),
            });
            let waits = crate::token::rotation::Waits {
                publish: publish_wait.as_secs(),
                retire: retire_after.as_secs(),
            };
            return rotate(dir, secret, now, waits, new.as_ref());
        }
        KeysCommand::Generate { out, alg } => SigningKey::generate(key_kind(alg), &kid_of(&out))
            .map_err(|e| e.to_string())
            .and_then(|key| write_private(&out, key.to_pem().as_bytes()))
            .map(|()| format!("wrote {} (kid {})", out.display(), kid_of(&out))),
        KeysCommand::Jwks { keys } => keys
            .iter()
            .map(|path| {
                std::fs::read_to_string(path)
                    .map_err(|e| e.to_string())
                    .and_then(|pem| {
                        SigningKey::from_pem(&pem, &kid_of(path)).map_err(|e| e.to_string())
                    })
                    .map_err(|e| format!("{}: {e}", path.display()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|keys| jwks_document(keys.iter()).to_string()),
    };
    match result {
        Ok(out) => {
            out!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            err!("chaperone keys: {e}");
            ExitCode::from(1)
        }
    }
}

fn bundle(cmd: BundleCommand) -> ExitCode {
    use crate::config::bundle;
    let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let result = match cmd {
        BundleCommand::Build { policy, out } => compile_context()
            .map_err(|e| e.to_string())
            .and_then(|ctx| bundle::build(&policy, &ctx))
            .and_then(|b| {
                std::fs::write(&out, &b).map_err(|e| format!("{}: {e}", out.display()))?;
                Ok(format!(
                    "wrote {} ({} bytes, unsigned)",
                    out.display(),
                    b.len()
                ))
            }),
        BundleCommand::Sign {
            bundle: path,
            key,
            kid,
            out,
        } => (|| {
            let kid = kid.unwrap_or_else(|| kid_of(&key));
            let pem =
                std::fs::read_to_string(&key).map_err(|e| format!("{}: {e}", key.display()))?;
            let key = crate::token::SigningKey::from_pem(&pem, &kid)
                .map_err(|e| format!("{}: {e}", key.display()))?;
            let signed = bundle::sign(&read(&path)?, &key).map_err(|e| e.to_string())?;
            let out = out.unwrap_or(path);
            std::fs::write(&out, signed).map_err(|e| format!("{}: {e}", out.display()))?;
            Ok(format!("signed {} (kid {kid})", out.display()))
        })(),
        BundleCommand::Verify {
            bundle: path,
            public_keys,
        } => (|| {
            let keys = bundle::TrustedKeys::parse(&read(&public_keys)?)
                .map_err(|e| format!("{}: {e}", public_keys.display()))?;
            let opened = bundle::open(&read(&path)?, &keys)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let ctx = compile_context().map_err(|e| e.to_string())?;
            let policy = bundle::compile_opened(&opened, &path.display().to_string(), &ctx)
                .map_err(|e| e.to_string())?;
            let mut report = format!(
                "ok: signed by kid {}, policy {} version {} (hash {}), {} hops",
                opened.signer,
                opened.manifest.policy,
                policy.version,
                policy.hash.get(..12).unwrap_or(&policy.hash),
                policy.hops.len()
            );
            for entry in &opened.manifest.files {
                report.push_str(&format!(
                    "\n  {}  {} bytes  sha256 {}",
                    entry.name, entry.size, entry.sha256
                ));
            }
            Ok(report)
        })(),
    };
    match result {
        Ok(out) => {
            out!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            err!("chaperone bundle: {e}");
            ExitCode::from(1)
        }
    }
}

/// One run of `keys rotate`: over a directory (the report on stdout), or over
/// a Secret's JSON (the Secret on stdout, the report on stderr).
fn rotate(
    dir: Option<PathBuf>,
    secret: Option<PathBuf>,
    now: i64,
    waits: crate::token::rotation::Waits,
    new: Option<&crate::token::rotation::NewKey>,
) -> ExitCode {
    use crate::token::rotation::{advance, read_dir, secret_files, with_secret_files, write_dir};
    let result = match (dir, secret) {
        (Some(dir), _) => read_dir(&dir)
            .and_then(|before| {
                let mut after = before.clone();
                let step = advance(&mut after, now, waits, new)?;
                write_dir(&dir, &before, &after)?;
                Ok(step)
            })
            .map(|step| out!("{step}"))
            .map_err(|e| e.to_string()),
        (None, Some(path)) => read_secret(&path).and_then(|object| {
            let mut files = secret_files(&object).map_err(|e| e.to_string())?;
            let step = advance(&mut files, now, waits, new).map_err(|e| e.to_string())?;
            let json = serde_json::to_string_pretty(&with_secret_files(&object, &files))
                .map_err(|e| e.to_string())?;
            out!("{json}");
            err!("{step}");
            Ok(())
        }),
        (None, None) => Err("name a key directory or --secret".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            err!("chaperone keys rotate: {e}");
            ExitCode::from(1)
        }
    }
}

/// A Secret's JSON from a file or stdin (`-`); errors never quote its text.
fn read_secret(path: &std::path::Path) -> Result<serde_json::Value, String> {
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| format!("stdin: {e}"))?;
        text
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
    };
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "the Secret is not JSON (line {}, column {}); use kubectl get -o json",
            e.line(),
            e.column()
        )
    })
}

/// A key's `kid` is its file name without the extension.
pub fn kid_of(path: &std::path::Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "key".to_owned())
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(bytes)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn load(policy: &PathBuf) -> Result<crate::policy::Policy, String> {
    let ctx = compile_context().map_err(|e| e.to_string())?;
    let bytes = std::fs::read(policy).map_err(|e| format!("{}: {e}", policy.display()))?;
    crate::config::compile(&policy.display().to_string(), policy.parent(), &bytes, &ctx)
        .map_err(|e| e.to_string())
}

/// `diff`: both policies loaded as `check` loads them; exit 1 when the
/// change opens anything, 0 when it does not, 2 when either does not load.
fn diff(old: &PathBuf, new: &PathBuf, format: DiffFormat) -> ExitCode {
    let (old, new) = match (load(old), load(new)) {
        (Ok(o), Ok(n)) => (o, n),
        (o, n) => {
            for e in [o.err(), n.err()].into_iter().flatten() {
                err!("chaperone diff: {e}");
            }
            return ExitCode::from(2);
        }
    };
    let diff = crate::policy::diff::diff(&old, &new);
    out_raw!(
        "{}",
        match format {
            DiffFormat::Text => diff.text(),
            DiffFormat::Markdown => diff.markdown(),
        }
    );
    ExitCode::from(u8::from(diff.opens()))
}

fn check(policy: &PathBuf) -> ExitCode {
    match load(policy) {
        Ok(p) => {
            out!(
                "{}: ok (version {}, {} hops, {} issuers)",
                policy.display(),
                p.version,
                p.hops.len(),
                p.verifier.issuers().len()
            );
            out!("  data classes:");
            for c in p.classes.iter() {
                let detectors: Vec<String> = c
                    .detectors
                    .iter()
                    .map(|d| match p.classes.custom().get(d) {
                        Some(custom) => custom.to_string(),
                        None => d.name().to_owned(),
                    })
                    .collect();
                out!(
                    "    {} ({}): {}",
                    c.name,
                    c.action.name(),
                    detectors.join(", ")
                );
            }
            if p.shadow {
                out!("  mode: shadow (nothing is enforced)");
            }
            for hop in &p.hops {
                out!(
                    "  hop {}: {} {} ({} caller rules)",
                    hop.name,
                    if hop.methods.is_empty() {
                        "ANY".to_owned()
                    } else {
                        hop.methods.join(",")
                    },
                    hop.path,
                    hop.callers.len()
                );
                for caller in &hop.callers {
                    let mut who = Vec::new();
                    if caller.anonymous {
                        who.push("anyone".to_owned());
                    }
                    if let Some(ws) = &caller.workloads {
                        who.push(format!(
                            "workloads {}",
                            ws.iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    if let Some(u) = &caller.user {
                        who.push(format!("users of {}", u.issuer));
                    }
                    if caller.transaction.is_some() {
                        who.push("with a chained token".to_owned());
                    }
                    if let Some(c) = &caller.when {
                        who.push(format!("when {}", c.source));
                    }
                    out!("    from: {}", who.join(" + "));
                }
                if hop.token.is_none() {
                    out!("    token: none (no token reaches the callee)");
                }
                for b in &hop.budgets {
                    out!("    budget {}", b.describe(&p.classes));
                }
                for a in &hop.anomalies {
                    out!("    anomaly {}", a.describe(&p.classes));
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            err!("{e}");
            ExitCode::from(1)
        }
    }
}

async fn explain(policy: &PathBuf, request: &PathBuf) -> ExitCode {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Described {
        host: String,
        method: String,
        path: String,
        #[serde(default)]
        headers: std::collections::HashMap<String, String>,
        #[serde(default)]
        source_principal: String,
    }
    let p = match load(policy) {
        Ok(p) => p,
        Err(e) => {
            err!("{e}");
            return ExitCode::from(1);
        }
    };
    crate::config::store::prefetch_keys(&p);
    let described: Described = match std::fs::read(request)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_norway::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(d) => d,
        Err(e) => {
            err!("{}: {e}", request.display());
            return ExitCode::from(1);
        }
    };
    let req = crate::proto::v1::ExplainRequest {
        host: described.host,
        method: described.method,
        path: described.path,
        headers: described.headers,
        source_principal: described.source_principal,
    };
    let engine = crate::policy::Engine::new(crate::secret::HashKey::ephemeral());
    let answer = crate::admin::api::explain(&engine, &p, &req).await;
    out!("decision: {} ({})", answer.decision, answer.http_status);
    out!(
        "hop: {}",
        if answer.hop.is_empty() {
            "-"
        } else {
            &answer.hop
        }
    );
    out!("reason: {} ({})", answer.reason, answer.reason_code);
    for step in &answer.steps {
        out!("  - {step}");
    }
    // What the hop's contracts do with each class, and what a class of the
    // policy's own is made of (never what a dictionary holds).
    if let Some(hop) = p.hops.iter().find(|h| *h.name == *answer.hop) {
        let crossing = crate::policy::flows::classes_crossing;
        out!("request body: {}", crossing(&p, &hop.request_body));
        out!("response body: {}", crossing(&p, &hop.response_body));
        for b in &hop.budgets {
            out!("budget {}", b.describe(&p.classes));
        }
        for a in &hop.anomalies {
            out!("anomaly {}", a.describe(&p.classes));
        }
        for c in p.classes.iter() {
            for d in c.detectors.iter() {
                if let Some(custom) = p.classes.custom().get(d) {
                    out!("  {}: {custom}", c.name);
                }
            }
        }
    }
    if answer.decision == "allow" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
