//! The lecture's clients: read a line, send it, print what comes back.

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use crate::{Error, Result};

/// The lecture's prompt.
pub const PROMPT: &str = "Input lowercase sentence:";

/// Prints the prompt (no newline, as Python's `input()`) and reads one line
/// without its line ending.
pub fn prompt_line(input: &mut impl BufRead, output: &mut impl Write) -> Result<String> {
    write!(output, "{PROMPT}")
        .and_then(|()| output.flush())
        .map_err(Error::socket("write prompt"))?;
    let mut line = String::new();
    if input
        .read_line(&mut line)
        .map_err(Error::socket("read stdin"))?
        == 0
    {
        return Err(Error::NoInput);
    }
    let trimmed = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(trimmed);
    Ok(line)
}

/// Sends `message` in one datagram and returns the one datagram that comes
/// back (up to 65507 bytes). Waits forever, like the lecture's client,
/// unless a timeout is given.
pub fn udp_exchange(server: SocketAddr, message: &[u8], wait: Option<Duration>) -> Result<Vec<u8>> {
    let socket =
        UdpSocket::bind(crate::udp_probe::unspecified(server)).map_err(Error::socket("bind"))?;
    socket
        .set_read_timeout(wait)
        .map_err(Error::socket("set timeout"))?;
    socket
        .send_to(message, server)
        .map_err(Error::socket("send"))?;
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = socket
            .recv_from(&mut buf)
            .map_err(Error::socket("receive"))?;
        if from == server {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

/// Connects to `server`, as the lecture's TCP client does before it prompts.
pub fn tcp_connect(server: SocketAddr, wait: Option<Duration>) -> Result<TcpStream> {
    let stream = match wait {
        Some(t) => TcpStream::connect_timeout(&server, t),
        None => TcpStream::connect(server),
    }
    .map_err(Error::socket("connect"))?;
    stream
        .set_read_timeout(wait)
        .map_err(Error::socket("set timeout"))?;
    Ok(stream)
}

/// Sends `message`, closes the sending side, and reads the reply until the
/// server closes. Unlike a single `recv(1024)`, this gets the whole reply
/// however TCP splits it.
pub fn tcp_exchange(mut stream: TcpStream, message: &[u8]) -> Result<Vec<u8>> {
    stream.write_all(message).map_err(Error::socket("send"))?;
    stream
        .shutdown(Shutdown::Write)
        .map_err(Error::socket("shutdown"))?;
    let mut reply = Vec::new();
    match stream.read_to_end(&mut reply) {
        Ok(_) => Ok(reply),
        // The lecture's server closes after one recv(1024); if more was
        // sent, its kernel answers with a reset after the reply.
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !reply.is_empty() => Ok(reply),
        Err(e) => Err(Error::Socket {
            op: "receive",
            source: e,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_has_no_newline_and_line_loses_its_ending() {
        let mut out = Vec::new();
        let line = prompt_line(&mut &b"hello world\r\n"[..], &mut out).unwrap();
        assert_eq!(line, "hello world");
        assert_eq!(out, b"Input lowercase sentence:");
    }

    #[test]
    fn end_of_input_is_an_error() {
        let err = prompt_line(&mut &b""[..], &mut Vec::new()).unwrap_err();
        assert!(matches!(err, Error::NoInput));
    }
}
