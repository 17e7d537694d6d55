//! An HTTP server on 127.0.0.1:0 that answers every request with a huge body (50 MB in the
//! tests), written in 64 KiB pieces, and counts what it managed to hand to the kernel per
//! connection and whether the client closed the connection before the end. It shows that a
//! client stopped reading early (bytes sent < total, connection closed early), by counting,
//! never by timing.
//!
//! Plain threads, no async runtime, so sync (pty) and async tests can both use it. Dropping
//! it shuts every connection down and joins every thread it started.
// Test crates that include this file by path use a subset of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the body's length is told to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: total` (a client may refuse before reading any of it).
    ContentLength,
    /// `Transfer-Encoding: chunked` (the client learns the size only by reading).
    Chunked,
}

/// What the server saw, counted.
#[derive(Debug, Default)]
pub struct Counts {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Body bytes the kernel accepted, over all connections.
    pub body_bytes_sent: AtomicU64,
    /// The most body bytes sent on any one connection.
    pub most_on_one_connection: AtomicU64,
    /// Connections the client closed before the whole body was sent.
    pub closed_early: AtomicU64,
    /// Connections whose whole body was sent.
    pub completed: AtomicU64,
}

/// The server; stopped when dropped.
pub struct BigBodyServer {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// What it saw.
    pub counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: Option<JoinHandle<()>>,
    port: u16,
}

const PIECE: usize = 64 * 1024;

impl BigBodyServer {
    /// Answers every request with `total` bytes of a JSON document that never ends, framed as
    /// `framing` says.
    pub fn start(total: u64, framing: Framing) -> BigBodyServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let threads: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let acceptor = {
            let (counts, stop, streams, threads) =
                (counts.clone(), stop.clone(), streams.clone(), threads.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    if let Ok(clone) = stream.try_clone() {
                        streams.lock().unwrap_or_else(PoisonError::into_inner).push(clone);
                    }
                    counts.connections.fetch_add(1, Ordering::SeqCst);
                    let (counts, stop) = (counts.clone(), stop.clone());
                    let handle =
                        std::thread::spawn(move || serve(stream, total, framing, &counts, &stop));
                    threads.lock().unwrap_or_else(PoisonError::into_inner).push(handle);
                }
            })
        };
        BigBodyServer {
            url: format!("http://127.0.0.1:{port}"),
            counts,
            stop,
            streams,
            threads,
            acceptor: Some(acceptor),
            port,
        }
    }

    /// Connections closed early by the client so far.
    pub fn closed_early(&self) -> u64 {
        self.counts.closed_early.load(Ordering::SeqCst)
    }

    /// Connections whose whole body went out so far.
    pub fn completed(&self) -> u64 {
        self.counts.completed.load(Ordering::SeqCst)
    }

    /// The most body bytes that went out on one connection.
    pub fn most_on_one_connection(&self) -> u64 {
        self.counts.most_on_one_connection.load(Ordering::SeqCst)
    }

    /// Polls (at most 500 times, 20 ms apart) until `n` connections have ended, whether
    /// closed early or completed; returns whether they have.
    pub fn wait_ended(&self, n: u64) -> bool {
        for _ in 0..500 {
            if self.closed_early() + self.completed() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counts.connections.load(Ordering::SeqCst)
    }
}

/// Reads the request head, then writes the answer until it is all out, the client closes,
/// or the server stops.
fn serve(mut stream: TcpStream, total: u64, framing: Framing, counts: &Counts, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(60)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&byte[..n]),
        }
    }
    let length = match framing {
        Framing::ContentLength => format!("Content-Length: {total}\r\n"),
        Framing::Chunked => "Transfer-Encoding: chunked\r\n".to_owned(),
    };
    let header = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}Connection: close\r\n\r\n"
    );
    if stream.write_all(header.as_bytes()).is_err() {
        counts.closed_early.fetch_add(1, Ordering::SeqCst);
        return;
    }
    // A JSON document that parses as far as it goes: a long array of small objects, costly
    // to parse and to hold as a parsed value.
    let opening = b"{\"status\":\"healthy\",\"pad\":[";
    let mut piece = vec![0u8; PIECE];
    for element in piece.chunks_mut(8) {
        element.copy_from_slice(b"{\"a\":0},");
    }
    let mut sent: u64 = 0;
    let mut first = true;
    while sent < total {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let room = usize::try_from(total - sent).unwrap_or(usize::MAX).min(PIECE);
        let data = if first {
            first = false;
            // The elements start right after the `[`, so the document is valid throughout.
            let mut data = opening.to_vec();
            data.extend_from_slice(&piece[..room.saturating_sub(opening.len())]);
            data.truncate(room);
            data
        } else {
            piece[..room].to_vec()
        };
        let written = match framing {
            Framing::ContentLength => stream.write_all(&data),
            Framing::Chunked => stream
                .write_all(format!("{:x}\r\n", data.len()).as_bytes())
                .and_then(|()| stream.write_all(&data))
                .and_then(|()| stream.write_all(b"\r\n")),
        };
        if written.is_err() {
            break;
        }
        sent += data.len() as u64;
        counts.body_bytes_sent.fetch_add(data.len() as u64, Ordering::SeqCst);
        counts.most_on_one_connection.fetch_max(sent, Ordering::SeqCst);
    }
    if sent >= total {
        if framing == Framing::Chunked {
            let _ = stream.write_all(b"0\r\n\r\n");
        }
        counts.completed.fetch_add(1, Ordering::SeqCst);
    } else {
        counts.closed_early.fetch_add(1, Ordering::SeqCst);
    }
    let _ = stream.shutdown(Shutdown::Both);
}

impl Drop for BigBodyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for stream in self.streams.lock().unwrap_or_else(PoisonError::into_inner).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // Wakes the acceptor so it sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let threads: Vec<JoinHandle<()>> =
            self.threads.lock().unwrap_or_else(PoisonError::into_inner).drain(..).collect();
        for thread in threads {
            let _ = thread.join();
        }
    }
}
