//! The `vipd` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing_subscriber::filter::Targets;

/// Where `vipd run` and `vipd check` look for the configuration by default.
const DEFAULT_CONFIG: &str = "/etc/vipd/vipd.yaml";

#[derive(Parser)]
#[command(
    name = "vipd",
    version,
    about = "VRRP daemon: keeps virtual IP addresses alive across Linux servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (SIGTERM/SIGINT: resign and exit; SIGHUP: reload).
    Run {
        /// Configuration file.
        #[arg(short, long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// HTTP address for /metrics, /status, /healthz (overrides `listen`).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Control socket for `vipd drain` / `vipd undrain` (mode 0600).
        #[arg(long, value_name = "PATH", default_value = vipd::daemon::control::DEFAULT_PATH)]
        control_socket: PathBuf,
        #[command(flatten)]
        web: WebArgs,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Drain instances of a running vipd (all when none is named): each hands mastership
    /// over make-before-break and stays Backup until undrained (survives reloads).
    Drain {
        /// Instance names (default: all).
        instances: Vec<String>,
        /// The running vipd's control socket.
        #[arg(long, value_name = "PATH", default_value = vipd::daemon::control::DEFAULT_PATH)]
        control_socket: PathBuf,
    },
    /// Undrain instances of a running vipd (all when none is named): they may become master
    /// again (preempting, when configured).
    Undrain {
        /// Instance names (default: all).
        instances: Vec<String>,
        /// The running vipd's control socket.
        #[arg(long, value_name = "PATH", default_value = vipd::daemon::control::DEFAULT_PATH)]
        control_socket: PathBuf,
    },
    /// Show the state of a running vipd as a table (from its /status endpoint).
    Status {
        /// Base URL of the vipd HTTP endpoint: http:// or https://, with `user:password@` for
        /// basic auth (default http://127.0.0.1:9797).
        #[arg(value_name = "URL", conflicts_with = "url")]
        url_arg: Option<String>,
        /// Same as URL.
        #[arg(long)]
        url: Option<String>,
        /// PEM file of the CA that signed the https:// endpoint's certificate, trusted instead
        /// of the public (Mozilla) roots.
        #[arg(long, value_name = "FILE")]
        cacert: Option<PathBuf>,
    },
    /// Watch every VRRP advert on a segment (any implementation) and export what is seen:
    /// masters per VRID (split brain), per-router priority, interval, checksum form.
    /// Passive: needs no configuration and sends no adverts.
    Monitor {
        /// Interface to listen on; repeat it (or separate names with commas) to watch several
        /// segments from one process, every series labelled by its interface.
        #[arg(short, long, required_unless_present = "config", value_delimiter = ',')]
        interface: Vec<String>,
        /// Monitor file (YAML, docs/monitor.md): interfaces and the virtual routers expected
        /// on them, with their expected masters; re-read on SIGHUP.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// HTTP address for /metrics, /status, /healthz.
        #[arg(long, default_value = "0.0.0.0:9798")]
        listen: std::net::SocketAddr,
        #[command(flatten)]
        web: WebArgs,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Build a throwaway LAN of network namespaces with two vipd nodes and a client, and show
    /// an election, a link failover, preemption back and a graceful stop live, with how long
    /// the client lost the address (root, Linux; everything is removed after, also on Ctrl-C).
    Demo {
        /// Internal: the client's pinger, run by the demo inside the client namespace.
        #[arg(long, hide = true)]
        ping: Option<std::net::Ipv4Addr>,
    },
    /// Translate a keepalived.conf to vipd YAML on stdout (or into FILE with `-o`); what cannot
    /// be translated is listed on stderr. Exit status: 0 complete, 3 something not translated,
    /// 2 syntax error or unreadable file.
    ImportKeepalived {
        /// keepalived configuration file (its `include`s are followed).
        path: PathBuf,
        /// Write the YAML to FILE instead of stdout (only when a translation is produced).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// keepalived's `-i ID`: read the conditional lines `@ID ...` (and `@^OTHER ...`)
        /// for this id, leave out the others (default: the short host name, as keepalived).
        #[arg(short = 'i', long, value_name = "ID")]
        config_id: Option<String>,
    },
    /// Write the man pages (`man [DIR]`) or a shell's completion script (`completions
    /// SHELL`), generated from this command line's definitions (the Debian package ships them).
    Generate {
        #[command(subcommand)]
        what: Generate,
    },
    /// Validate a configuration: prints `path:line:column: message` per problem, exits 2 when
    /// invalid. The file is FILE, else `-c FILE`, else /etc/vipd/vipd.yaml.
    Check {
        /// Configuration file (default /etc/vipd/vipd.yaml).
        #[arg(value_name = "FILE", conflicts_with = "config")]
        file: Option<PathBuf>,
        /// Configuration file, as for `vipd run`.
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        web: WebArgs,
    },
}

/// `--web.config.file` of `vipd run`, `vipd monitor` and `vipd check`.
#[derive(Args, Debug, Default, PartialEq)]
struct WebArgs {
    /// Web configuration (Prometheus exporter-toolkit format): TLS, client certificates,
    /// basic_auth_users, response headers of the HTTP endpoint. See docs/security.md.
    #[arg(long = "web.config.file", value_name = "FILE")]
    web_config_file: Option<PathBuf>,
}

/// `vipd generate`.
#[derive(Subcommand)]
enum Generate {
    /// The man pages in troff: vipd(1) on stdout, or vipd(1) and one page per subcommand
    /// (vipd-run(1), ...) written into DIR.
    Man {
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// The completion script for SHELL on stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `vipd generate`: writes what was asked on stdout.
fn generate(what: Generate) -> ExitCode {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    let written = match what {
        Generate::Man { dir: None } => clap_mangen::Man::new(cmd).render(&mut out),
        Generate::Man { dir: Some(dir) } => clap_mangen::generate_to(cmd, &dir),
        Generate::Completions { shell } => {
            clap_complete::generate(shell, &mut cmd, "vipd", &mut out);
            Ok(())
        }
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vipd generate: {e}");
            ExitCode::from(1)
        }
    }
}

/// How `vipd run` and `vipd monitor` log (on stderr).
#[derive(Args, Debug, Default, PartialEq)]
struct LogArgs {
    /// Log level: off, error, warn, info, debug or trace, or a tracing filter such as
    /// `vipd=debug,info`. Overrides the VIPD_LOG environment variable (default info).
    #[arg(long, value_name = "LEVEL", alias = "log.level", value_parser = log_level)]
    log_level: Option<String>,
    /// Log line format. Overrides the configuration's `log.format` (default text).
    #[arg(long, value_name = "FORMAT", alias = "log.format")]
    log_format: Option<LogFormatArg>,
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
enum LogFormatArg {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl From<LogFormatArg> for vipd::config::LogFormat {
    fn from(f: LogFormatArg) -> Self {
        match f {
            LogFormatArg::Text => vipd::config::LogFormat::Text,
            LogFormatArg::Json => vipd::config::LogFormat::Json,
        }
    }
}

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// `--log-level`: a level, or a filter with targets (`vipd=debug,info`), checked here so that a
/// typo is a usage error rather than a filter that matches nothing.
fn log_level(s: &str) -> Result<String, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    if LEVELS.contains(&lower.as_str()) {
        return Ok(lower);
    }
    if t.contains(['=', ',']) {
        // Targets would take `vipd[run]` for a target name that matches nothing.
        if let Some(bad) = t.split(',').find_map(|d| {
            let target = d.split_once('=').map_or("", |(t, _)| t.trim());
            (!target
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_:.-".contains(c)))
            .then_some(target)
        }) {
            return Err(format!(
                "`{t}` is not a log filter: `{bad}` is no target (a module path such as \
                 `vipd::router`; span and field filters are not supported)"
            ));
        }
        return t
            .parse::<Targets>()
            .map(|_| t.to_owned())
            .map_err(|e| format!("`{t}` is not a log filter: {e}"));
    }
    Err(format!(
        "expected one of {} (or a filter such as `vipd=debug,info`), found `{t}`",
        LEVELS.join(", ")
    ))
}

fn main() -> ExitCode {
    // NOTIFY_SOCKET / WATCHDOG_* read once; scripts and hooks never see them (they start from
    // a clean environment: docs/security.md).
    vipd::sdnotify::take_from_env();
    let cli = Cli::parse();
    match cli.command {
        Command::Check { file, config, web } => {
            let code = check(
                &file
                    .or(config)
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG)),
            );
            match web.web_config_file {
                Some(w) => match vipd::webconfig::WebConfig::load(&w) {
                    Ok(_) => {
                        println!("{}: ok (web configuration)", w.display());
                        code
                    }
                    Err(e) => {
                        println!("{e}");
                        ExitCode::from(2)
                    }
                },
                None => code,
            }
        }
        Command::ImportKeepalived {
            path,
            output,
            config_id,
        } => ExitCode::from(vipd::import::run(
            &path,
            output.as_deref(),
            &vipd::import::Options { config_id },
        )),
        Command::Generate { what } => generate(what),
        Command::Demo { ping } => ExitCode::from(vipd::demo::main(ping)),
        Command::Status {
            url_arg,
            url,
            cacert,
        } => {
            let url = url_arg
                .or(url)
                .unwrap_or_else(|| vipd::status_cli::DEFAULT_URL.to_owned());
            ExitCode::from(vipd::status_cli::run(&url, cacert.as_deref()))
        }
        Command::Drain {
            instances,
            control_socket,
        } => ExitCode::from(vipd::daemon::control::client(
            &control_socket,
            &vipd::daemon::control::request_line(true, &instances),
        )),
        Command::Undrain {
            instances,
            control_socket,
        } => ExitCode::from(vipd::daemon::control::client(
            &control_socket,
            &vipd::daemon::control::request_line(false, &instances),
        )),
        Command::Run {
            config,
            listen,
            web,
            control_socket,
            log,
        } => {
            // The log format and `otlp` are part of the configuration; errors are reported once
            // loaded. `--log-format` wins over `log.format`.
            let loaded = vipd::config::load(&config).ok().map(|l| l.config);
            // Before any thread exists (capabilities are per thread): the tracing exporter and
            // the runtime inherit the reduced sets. Logged once logging is set up.
            let caps = drop_capabilities(
                loaded
                    .as_ref()
                    .is_some_and(|c| c.scripts.values().any(|s| s.user.is_some())),
                listen.or(loaded.as_ref().map(|c| c.listen)),
            );
            let format = log
                .log_format
                .map(Into::into)
                .unwrap_or_else(|| loaded.as_ref().map(|c| c.log_format).unwrap_or_default());
            let telemetry = init_tracing_with(format, log.log_level.as_deref(), loaded.as_ref());
            if !report_capabilities(caps) {
                return ExitCode::from(1);
            }
            let Some(rt) = runtime() else {
                return ExitCode::from(1);
            };
            let code = rt.block_on(vipd::daemon::run(vipd::daemon::RunOptions {
                config_path: config,
                listen,
                web_config: web.web_config_file,
                control_socket,
            }));
            // The runtime first, then the exporter: its drop sends the spans still queued.
            drop(rt);
            drop(telemetry);
            ExitCode::from(code as u8)
        }
        Command::Monitor {
            interface,
            config,
            listen,
            web,
            log,
        } => {
            let caps = drop_capabilities(false, Some(listen));
            let format = log.log_format.map(Into::into).unwrap_or_default();
            drop(init_tracing_with(format, log.log_level.as_deref(), None));
            if !report_capabilities(caps) {
                return ExitCode::from(1);
            }
            let Some(rt) = runtime() else {
                return ExitCode::from(1);
            };
            let code = rt.block_on(vipd::monitor::run(vipd::monitor::MonitorOptions {
                interfaces: interface,
                config,
                listen,
                web_config: web.web_config_file,
            }));
            ExitCode::from(code as u8)
        }
    }
}

/// Logs to stderr, filtered by `level` (`--log-level`), else `VIPD_LOG`, else `info`, as text or
/// one JSON object per line; given the configuration, also OpenTelemetry export of the spans to
/// its `otlp.endpoint` (else `OTEL_EXPORTER_OTLP_ENDPOINT`). Keep the guard until the runtime is
/// gone.
fn init_tracing_with(
    format: vipd::config::LogFormat,
    level: Option<&str>,
    config: Option<&vipd::config::Config>,
) -> Option<vipd::telemetry::Guard> {
    use tracing_subscriber::filter::{FilterExt, filter_fn};
    use tracing_subscriber::prelude::*;
    // Targets, not EnvFilter: levels per target are all vipd's filters need, and EnvFilter's
    // span and field matching brings a regex engine (about 230 KiB of binary) along.
    let mut bad_level = None;
    let filter = match level {
        Some(l) => log_level(l).and_then(|l| l.parse::<Targets>().map_err(|e| e.to_string())),
        None => match std::env::var("VIPD_LOG") {
            Ok(v) => log_level(&v).and_then(|l| l.parse::<Targets>().map_err(|e| e.to_string())),
            Err(_) => Ok(Targets::new().with_default(tracing::Level::INFO)),
        },
    }
    .unwrap_or_else(|e| {
        bad_level = Some(format!("VIPD_LOG: {e}; logging at info"));
        Targets::new().with_default(tracing::Level::INFO)
    });
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match format {
        vipd::config::LogFormat::Json => fmt.json().flatten_event(true).boxed(),
        vipd::config::LogFormat::Text => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed(),
    };
    // Spans are for OpenTelemetry: the log lines stay as they are without them.
    let fmt = fmt.with_filter(filter.and(filter_fn(|m| !m.is_span())));
    let mut problem = None;
    let mut guard = None;
    let otel = config.and_then(|c| {
        let otlp = c.otlp.as_ref().map(|o| o.endpoint.as_str());
        match vipd::telemetry::endpoint(otlp)
            .map(|ep| ep.and_then(|ep| vipd::telemetry::layer(&ep, &c.router_id)))
        {
            Some(Ok((layer, g))) => {
                guard = Some(g);
                Some(layer)
            }
            Some(Err(e)) => {
                problem = Some(e);
                None
            }
            None => None,
        }
    });
    tracing_subscriber::registry().with(fmt).with(otel).init();
    if let Some(e) = bad_level {
        tracing::warn!("{e}");
    }
    if let Some(e) = problem {
        tracing::warn!("{e}; spans are not exported");
    }
    guard
}

/// Keeps only the capabilities vipd needs ([`vipd::security::kept_capabilities`]).
fn drop_capabilities(
    script_users: bool,
    listen: Option<std::net::SocketAddr>,
) -> Result<vipd::security::Dropped, String> {
    let low_port = listen.is_some_and(|l| l.port() < 1024);
    vipd::security::drop_capabilities(&vipd::security::kept_capabilities(script_users, low_port))
}

/// Logs what [`drop_capabilities`] did; false (and an error logged) if it failed.
fn report_capabilities(r: Result<vipd::security::Dropped, String>) -> bool {
    match r {
        Ok(d) if !d.changed => true,
        Ok(d) => {
            let names: Vec<String> = d.kept.iter().map(|c| c.to_string()).collect();
            tracing::debug!(
                bounding_set_reduced = d.bounding,
                "capabilities kept: {}",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            );
            true
        }
        Err(e) => {
            tracing::error!("{e}");
            false
        }
    }
}

/// The single-threaded tokio runtime the daemon and the monitor run on.
fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("vipd: cannot start the runtime: {e}");
            None
        }
    }
}

/// `vipd check`: `config::load` validates the file and runs the lint pass (`config::lint`: the
/// programs it names, checked on this host); every error and warning is printed.
fn check(path: &std::path::Path) -> ExitCode {
    match vipd::config::load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                println!("{w}");
            }
            let c = &loaded.config;
            println!(
                "{}: ok ({} instance{})",
                path.display(),
                c.instances.len(),
                if c.instances.len() == 1 { "" } else { "s" }
            );
            ExitCode::SUCCESS
        }
        Err(diags) => {
            for d in &diags {
                println!("{d}");
            }
            let n = diags.iter().filter(|d| !d.warning).count();
            eprintln!(
                "{}: {n} error{}",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("vipd").chain(args.iter().copied()))
    }

    fn check_path(args: &[&str]) -> PathBuf {
        match parse(args).unwrap().command {
            Command::Check { file, config, .. } => file
                .or(config)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG)),
            _ => panic!("not check"),
        }
    }

    fn monitor(args: &[&str]) -> Result<(Vec<String>, std::net::SocketAddr), String> {
        let mut argv = vec!["vipd", "monitor"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).map_err(|e| e.kind().to_string())? {
            Cli {
                command:
                    Command::Monitor {
                        interface, listen, ..
                    },
            } => Ok((interface, listen)),
            _ => Err("not monitor".into()),
        }
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn web_config_file_is_taken_by_run_monitor_and_check() {
        let web = |args: &[&str]| match parse(args).unwrap().command {
            Command::Run { web, .. }
            | Command::Monitor { web, .. }
            | Command::Check { web, .. } => web.web_config_file,
            _ => panic!("no web args"),
        };
        let w = Some(PathBuf::from("w.yml"));
        assert_eq!(web(&["run", "--web.config.file", "w.yml"]), w);
        assert_eq!(
            web(&["monitor", "-i", "eth0", "--web.config.file", "w.yml"]),
            w
        );
        assert_eq!(web(&["check", "a.yaml", "--web.config.file", "w.yml"]), w);
        assert_eq!(web(&["run"]), None);
    }

    #[test]
    fn check_takes_the_file_positionally_or_with_c() {
        assert_eq!(check_path(&["check", "a.yaml"]), PathBuf::from("a.yaml"));
        assert_eq!(
            check_path(&["check", "-c", "b.yaml"]),
            PathBuf::from("b.yaml")
        );
        assert_eq!(
            check_path(&["check", "--config", "b.yaml"]),
            PathBuf::from("b.yaml")
        );
        assert_eq!(check_path(&["check"]), PathBuf::from(DEFAULT_CONFIG));
        // Both at once is ambiguous: a usage error.
        let e = parse(&["check", "a.yaml", "-c", "b.yaml"]).err().unwrap();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert!(parse(&["check", "a.yaml", "b.yaml"]).is_err());
    }

    fn run_log(args: &[&str]) -> LogArgs {
        match parse(args).unwrap().command {
            Command::Run { log, .. } | Command::Monitor { log, .. } => log,
            _ => panic!("not run or monitor"),
        }
    }

    #[test]
    fn log_level_and_format_for_run_and_monitor() {
        assert_eq!(run_log(&["run"]), LogArgs::default());
        let l = run_log(&["run", "--log-level", "debug", "--log-format", "json"]);
        assert_eq!(l.log_level.as_deref(), Some("debug"));
        assert_eq!(l.log_format, Some(LogFormatArg::Json));
        // The config key's spelling is accepted too.
        let l = run_log(&["run", "--log.level=WARN", "--log.format=text"]);
        assert_eq!(l.log_level.as_deref(), Some("warn"));
        assert_eq!(l.log_format, Some(LogFormatArg::Text));
        let l = run_log(&["monitor", "-i", "eth0", "--log-level", "vipd=trace,info"]);
        assert_eq!(l.log_level.as_deref(), Some("vipd=trace,info"));
        // A level that is none is refused rather than silently matching nothing.
        for bad in [
            &["run", "--log-level", "loud"][..],
            &["run", "--log-level", "vipd=loud"],
            // Span and field filters (EnvFilter's `[span{field=value}]`) are not supported.
            &["run", "--log-level", "vipd[run]=debug"],
            &["run", "--log-format", "xml"],
        ] {
            let e = parse(bad).err().unwrap_or_else(|| panic!("{bad:?}"));
            assert!(
                matches!(
                    e.kind(),
                    clap::error::ErrorKind::ValueValidation | clap::error::ErrorKind::InvalidValue
                ),
                "{bad:?}: {e}"
            );
        }
        let e = parse(&["run", "--log-level", "loud"]).err().unwrap();
        assert!(
            e.to_string()
                .contains("expected one of off, error, warn, info, debug, trace"),
            "{e}"
        );
        // Only where there is a log.
        assert!(parse(&["check", "--log-level", "debug"]).is_err());
    }

    #[test]
    fn import_keepalived_output_file() {
        match parse(&["import-keepalived", "k.conf", "-o", "v.yaml"])
            .unwrap()
            .command
        {
            Command::ImportKeepalived { path, output, .. } => {
                assert_eq!(path, PathBuf::from("k.conf"));
                assert_eq!(output, Some(PathBuf::from("v.yaml")));
            }
            _ => panic!(),
        }
        match parse(&["import-keepalived", "k.conf"]).unwrap().command {
            Command::ImportKeepalived { output, .. } => assert_eq!(output, None),
            _ => panic!(),
        }
    }

    #[test]
    fn monitor_takes_several_interfaces() {
        let listen: std::net::SocketAddr = "0.0.0.0:9798".parse().unwrap();
        assert_eq!(monitor(&["-i", "eth0"]), Ok((vec!["eth0".into()], listen)));
        let two = Ok((vec!["eth0".to_owned(), "vlan20".to_owned()], listen));
        assert_eq!(
            monitor(&["--interface", "eth0", "--interface", "vlan20"]),
            two
        );
        assert_eq!(monitor(&["-i", "eth0,vlan20"]), two);
        assert_eq!(monitor(&["-i", "eth0", "-i", "vlan20"]), two);
        assert!(
            monitor(&[]).is_err(),
            "an interface (or a monitor file) is required"
        );
        // A monitor file instead of (or beside) --interface.
        assert_eq!(monitor(&["-c", "mon.yml"]), Ok((vec![], listen)));
        match parse(&["monitor", "--config", "mon.yml", "-i", "eth1"])
            .unwrap()
            .command
        {
            Command::Monitor { config, .. } => assert_eq!(config, Some("mon.yml".into())),
            _ => panic!(),
        }
        assert_eq!(
            monitor(&["-i", "eth0", "--listen", "127.0.0.1:1"]).map(|m| m.1),
            Ok("127.0.0.1:1".parse().unwrap())
        );
    }
}
