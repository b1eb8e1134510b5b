//! The lecture's UDP uppercase server.

use clap::Parser;
use services::cli::{self, ServerArgs};

/// UDP uppercase server: sends every datagram back with its letters uppercased.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    cli::init_tracing();
    let socket = tokio::net::UdpSocket::bind(args.server.addr()).await?;
    match args.server.receive_buffer() {
        Some(bytes) => services::sys::set_receive_buffer(&socket, bytes as i32)?,
        None => services::sys::grow_receive_buffer(&socket, 8 << 20),
    }
    let shutdown = cli::shutdown_signal();
    println!("{}", services::READY_LINE);
    services::udp_server::run_paced(socket, args.server.receiver_rate, shutdown).await?;
    Ok(())
}
