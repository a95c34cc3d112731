//! The `vipd` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

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
        #[arg(short, long, default_value = "/etc/vipd/vipd.yaml")]
        config: PathBuf,
        /// HTTP address for /metrics, /status, /healthz (overrides `listen`).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Show the state of a running vipd as a table (from its /status endpoint).
    Status {
        /// Base URL of the vipd HTTP endpoint.
        #[arg(long, default_value = vipd::status_cli::DEFAULT_URL)]
        url: String,
    },
    /// Watch every VRRP advert on a segment (any implementation) and export what is seen:
    /// masters per VRID (split brain), per-router priority, interval, checksum form.
    /// Passive: needs no configuration and sends no adverts.
    Monitor {
        /// Interface to listen on; repeat it (or separate names with commas) to watch several
        /// segments from one process, every series labelled by its interface.
        #[arg(short, long, required = true, value_delimiter = ',')]
        interface: Vec<String>,
        /// HTTP address for /metrics, /status, /healthz.
        #[arg(long, default_value = "0.0.0.0:9798")]
        listen: std::net::SocketAddr,
    },
    /// Build a throwaway LAN of network namespaces with two vipd nodes and a client, and show
    /// an election, a link failover, preemption back and a graceful stop live, with how long
    /// the client lost the address (root, Linux; everything is removed after, also on Ctrl-C).
    Demo {
        /// Internal: the client's pinger, run by the demo inside the client namespace.
        #[arg(long, hide = true)]
        ping: Option<std::net::Ipv4Addr>,
    },
    /// Translate a keepalived.conf to vipd YAML on stdout; what cannot be translated is listed
    /// on stderr. Exit status: 0 complete, 3 something not translated, 2 syntax error or
    /// unreadable file.
    ImportKeepalived {
        /// keepalived configuration file (its `include`s are followed).
        path: PathBuf,
    },
    /// Validate a configuration: prints `path:line:column: message` per problem, exits 2 when invalid.
    Check {
        /// Configuration file.
        #[arg(short, long, default_value = "/etc/vipd/vipd.yaml")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(&config),
        Command::ImportKeepalived { path } => ExitCode::from(vipd::import::run(&path)),
        Command::Demo { ping } => ExitCode::from(vipd::demo::main(ping)),
        Command::Status { url } => ExitCode::from(vipd::status_cli::run(&url)),
        Command::Run { config, listen } => {
            // The log format and `otlp` are part of the configuration; errors are reported once
            // loaded.
            let loaded = vipd::config::load(&config).ok().map(|l| l.config);
            let format = loaded.as_ref().map(|c| c.log_format).unwrap_or_default();
            let telemetry = init_tracing_with(format, loaded.as_ref());
            let Some(rt) = runtime() else {
                return ExitCode::from(1);
            };
            let code = rt.block_on(vipd::daemon::run(vipd::daemon::RunOptions {
                config_path: config,
                listen,
            }));
            // The runtime first, then the exporter: its drop sends the spans still queued.
            drop(rt);
            drop(telemetry);
            ExitCode::from(code as u8)
        }
        Command::Monitor { interface, listen } => {
            init_tracing(vipd::config::LogFormat::Text);
            let Some(rt) = runtime() else {
                return ExitCode::from(1);
            };
            let code = rt.block_on(vipd::monitor::run(vipd::monitor::MonitorOptions {
                interfaces: interface,
                listen,
            }));
            ExitCode::from(code as u8)
        }
    }
}

/// Logs to stderr, filtered by `VIPD_LOG` (default `info`), as text or one JSON object per line.
fn init_tracing(format: vipd::config::LogFormat) {
    drop(init_tracing_with(format, None));
}

/// [`init_tracing`], plus, given the configuration, OpenTelemetry export of the spans to its
/// `otlp.endpoint` (else `OTEL_EXPORTER_OTLP_ENDPOINT`). Keep the guard until the runtime is gone.
fn init_tracing_with(
    format: vipd::config::LogFormat,
    config: Option<&vipd::config::Config>,
) -> Option<vipd::telemetry::Guard> {
    use tracing_subscriber::filter::{FilterExt, filter_fn};
    use tracing_subscriber::prelude::*;
    let filter = EnvFilter::try_from_env("VIPD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
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
    if let Some(e) = problem {
        tracing::warn!("{e}; spans are not exported");
    }
    guard
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

    fn monitor(args: &[&str]) -> Result<(Vec<String>, std::net::SocketAddr), String> {
        let mut argv = vec!["vipd", "monitor"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).map_err(|e| e.kind().to_string())? {
            Cli {
                command: Command::Monitor { interface, listen },
            } => Ok((interface, listen)),
            _ => Err("not monitor".into()),
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
        assert!(monitor(&[]).is_err(), "an interface is required");
        assert_eq!(
            monitor(&["-i", "eth0", "--listen", "127.0.0.1:1"]).map(|m| m.1),
            Ok("127.0.0.1:1".parse().unwrap())
        );
    }
}
