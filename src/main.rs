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
        /// Interface to listen on.
        #[arg(short, long)]
        interface: String,
        /// HTTP address for /metrics, /status, /healthz.
        #[arg(long, default_value = "0.0.0.0:9798")]
        listen: std::net::SocketAddr,
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
        Command::Status { url } => ExitCode::from(vipd::status_cli::run(&url)),
        Command::Run { config, listen } => {
            // The log format is part of the configuration; errors are reported once loaded.
            let format = vipd::config::load(&config)
                .map(|l| l.config.log_format)
                .unwrap_or_default();
            init_tracing(format);
            let Some(rt) = runtime() else {
                return ExitCode::from(1);
            };
            let code = rt.block_on(vipd::daemon::run(vipd::daemon::RunOptions {
                config_path: config,
                listen,
            }));
            ExitCode::from(code as u8)
        }
        Command::Monitor { interface, listen } => {
            init_tracing(vipd::config::LogFormat::Text);
            let Some(rt) = runtime() else {
                return ExitCode::from(1);
            };
            let code = rt.block_on(vipd::monitor::run(vipd::monitor::MonitorOptions {
                interface,
                listen,
            }));
            ExitCode::from(code as u8)
        }
    }
}

/// Logs to stderr, filtered by `VIPD_LOG` (default `info`), as text or one JSON object per line.
fn init_tracing(format: vipd::config::LogFormat) {
    let filter = EnvFilter::try_from_env("VIPD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        vipd::config::LogFormat::Json => builder.json().flatten_event(true).init(),
        vipd::config::LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
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
