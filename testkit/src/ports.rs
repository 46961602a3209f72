//! Free TCP ports for test servers that take a port number rather than a listener
//! (PostgreSQL, moto).
//!
//! Binding `127.0.0.1:0` and passing the number on is racy: the kernel hands out ports for
//! `bind(0)` *and* for the source side of outgoing connections from the same ephemeral
//! range (`/proc/sys/net/ipv4/ip_local_port_range`, 32768–60999 by default), so between
//! dropping the probe listener and the server binding, any client connection in a parallel
//! test can take the port — and the server then fails with "Address already in use". Ports
//! below the ephemeral range are never assigned to outgoing connections, so we pick there.

use std::net::TcpListener;

/// The lowest port we hand out.
const FLOOR: u16 = 10_000;

/// The first port of the kernel's ephemeral range (32768 when it cannot be read).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(32_768)
}

/// A port of 127.0.0.1 that nothing listens on right now, below the kernel's ephemeral
/// range (so no outgoing connection can take it before the caller's server binds it).
/// Each call starts at a random offset and walks upward, so parallel tests rarely probe
/// the same ports; a server that still loses a race should retry with a new port (see [`crate::postgres::PgServer::start`]).
///
/// Panics when no port in 10000..ephemeral-low can be bound.
pub fn unused_port() -> u16 {
    let high = ephemeral_low().max(FLOOR + 1_000);
    let span = high - FLOOR;
    let seed = (crate::postgres::rand_suffix() % u64::from(span)) as u32;
    for i in 0..u32::from(span) {
        let port = FLOOR + ((seed + i) % u32::from(span)) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FLOOR}..{high}");
}
