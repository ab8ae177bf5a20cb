//! Loopback servers for shadowgate's integration tests.
//!
//! Every server binds `127.0.0.1:0` (never a fixed port), uses real sockets, and stops when its
//! handle is dropped: the accept loop, every connection and every task spawned for them are
//! aborted.
//!
//! - [`RecordingServer`]: the recording sink. HTTP/1.1 and h2c; records each request
//!   ([`Recorded`]) and answers as its [`Responder`] says. With [`Responder::delay`] it is a slow
//!   sink; [`RecordingServer::wait_for`] waits, bounded, for requests to arrive.
//! - [`BlackHole`]: accepts connections and never answers, for testing that a dead target
//!   holds nothing up.
//! - [`ResettingServer`]: resets every connection (TCP RST), for testing a target that dies
//!   mid-exchange.
//! - [`refused_addr`] / [`refused_url`]: a port where connecting is refused.
//! - [`UpgradeEchoServer`]: answers `Upgrade` requests with `101` and echoes raw bytes, for
//!   testing upgrade (WebSocket-like) pass-through.
//! - [`client`]: HTTP/1.1 and h2c clients for the test side.
//! - [`eventually`]: the bounded wait for a condition (no polling loops in tests).
//! - [`streamed_body`]: a body written chunk by chunk, for proving that bodies stream.
//! - [`generator`]: a labelled service (noise, and regressions of known kind and rate) for
//!   testing verdicts.
//! - [`raw_exchange`]: a raw TCP client, and [`read_head`], for tests that need exact bytes on
//!   the wire.

mod accept;
mod blackhole;
mod body;
pub mod client;
pub mod generator;
mod raw;
mod recorded;
mod recording;
mod refused;
mod request_log;
mod reset;
mod responder;
mod streamed;
mod task;
mod tls;
mod upgrade;
mod wait;

pub use blackhole::BlackHole;
pub use raw::{raw_exchange, read_head};
pub use recorded::Recorded;
pub use recording::RecordingServer;
pub use refused::{refused_addr, refused_url};
pub use reset::ResettingServer;
pub use responder::Responder;
pub use streamed::{streamed_body, ChunkSender, StreamedBody};
pub use upgrade::UpgradeEchoServer;
pub use wait::{at_least, eventually, eventually_async, exactly, Check, Seen};
