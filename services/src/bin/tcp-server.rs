//! The lecture's TCP uppercase server, serving many clients at once.

use std::time::Duration;

use clap::Parser;
use services::cli::{self, parse_positive_duration, ServerArgs};
use services::tcp_server::TcpServerConfig;

/// TCP uppercase server: echoes each connection uppercased until it closes.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// Connections served at once; more wait in the backlog.
    #[arg(long, default_value_t = 1024, allow_hyphen_values = true,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,
    /// Close a connection idle for this long (above zero).
    #[arg(long, default_value = "60s", allow_hyphen_values = true,
          value_parser = parse_positive_duration)]
    idle_timeout: Duration,
    /// Threads that serve connections. One (the default) hands no
    /// connection between threads, which serves short connections fastest
    /// on small machines; more spread long streams over cores.
    #[arg(long, default_value_t = 1, allow_hyphen_values = true,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    cli::init_tracing();
    let runtime = if args.workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(usize::from(args.workers));
        b
    }
    .enable_all()
    .build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    // Every connection is a descriptor: let the bound be --max-connections.
    let limit = services::sys::raise_fd_limit(u64::from(args.max_connections) + 64)?;
    if limit < u64::from(args.max_connections) + 16 {
        tracing::warn!(limit, "descriptor limit is below --max-connections");
    }
    let listener =
        services::tcp_server::bind_with(args.server.addr(), args.server.receive_buffer())?;
    let shutdown = cli::shutdown_signal();
    println!("{}", services::READY_LINE);
    let config = TcpServerConfig {
        max_connections: args.max_connections as usize,
        idle_timeout: args.idle_timeout,
        read_rate: args.server.receiver_rate,
        ..TcpServerConfig::default()
    };
    services::tcp_server::run(listener, config, shutdown).await?;
    Ok(())
}
