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
        Command::Run { config, listen } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    EnvFilter::try_from_env("VIPD_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
                )
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .init();
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("vipd: cannot start the runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            let code = rt.block_on(vipd::daemon::run(vipd::daemon::RunOptions {
                config_path: config,
                listen,
            }));
            ExitCode::from(code as u8)
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
