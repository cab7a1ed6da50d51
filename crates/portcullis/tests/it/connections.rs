//! Slow clients cannot hold connections open: a request head has a deadline, an idle kept-alive
//! connection is closed, and past the per-address or overall cap new connections are closed at
//! once while other clients are still answered.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::Server;

/// Only a guard against a hung test: every assertion is about what the server did, not when.
const HANG: Duration = Duration::from_secs(30);

const SECOND_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn addr(server: &Server) -> SocketAddr {
    server.url.trim_start_matches("http://").parse().unwrap()
}

/// A connection from `from` (Linux routes all of 127.0.0.0/8 to loopback).
async fn connect_from(server: &Server, from: IpAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(addr(server)).await.unwrap()
}

/// A client that sent half a request head and is still "typing".
async fn slow_client(server: &Server, from: IpAddr) -> TcpStream {
    let mut stream = connect_from(server, from).await;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: portcullis\r\n").await.unwrap();
    stream
}

/// Reads until the server closes the connection; returns what it sent. A reset counts as closed.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    match tokio::time::timeout(HANG, stream.read_to_end(&mut got)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(Err(e)) => panic!("reading: {e}"),
        Err(_) => panic!("the server kept the connection open; it sent {:?}", String::from_utf8_lossy(&got)),
    }
    got
}

/// Sends one whole request and reads its response head and body (Connection: close).
async fn healthz(stream: &mut TcpStream) -> String {
    let request = b"GET /healthz HTTP/1.1\r\nHost: portcullis\r\nConnection: close\r\n\r\n";
    // A refused connection may already be closed: the write failing is an answer too.
    if stream.write_all(request).await.is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&read_until_closed(stream).await).into_owned()
}

/// Waits until the server has released a closed connection's slot (it notices the close itself).
async fn wait_for_open(server: &Server, open: u64) {
    let gate = server.auth.connections();
    tokio::time::timeout(HANG, async {
        while gate.stats().open != open {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} connections open, expected {open}", gate.stats().open));
}

#[tokio::test]
async fn slow_clients_past_the_per_address_cap_are_closed_and_others_still_answered() {
    let server = Server::with(|raw| {
        raw.server.max_connections = 100;
        raw.server.max_connections_per_address = 4;
        // Long enough that the slow clients are still there when the caps are checked.
        raw.server.header_read_timeout = "10m".into();
    })
    .await;
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut slow = Vec::new();
    for _ in 0..4 {
        slow.push(slow_client(&server, local).await);
    }
    // Connections are accepted in the order they were made, so the four are in when the fifth
    // is looked at.
    let mut fifth = connect_from(&server, local).await;
    assert_eq!(healthz(&mut fifth).await, "", "the fifth connection from one address is closed unanswered");
    wait_for_open(&server, 4).await;
    let stats = server.auth.connections().stats();
    assert_eq!((stats.refused_per_address, stats.refused_overall), (1, 0));

    // Another address is served, through a pooled client as a browser would be.
    let other = reqwest::Client::builder().local_address(SECOND_CLIENT).build().unwrap();
    for _ in 0..3 {
        assert_eq!(other.get(format!("{}/healthz", server.url)).send().await.unwrap().status(), 200);
    }

    // A slow client that leaves gives its slot back.
    drop(slow.pop());
    wait_for_open(&server, 4).await;
    let mut again = connect_from(&server, local).await;
    assert!(healthz(&mut again).await.starts_with("HTTP/1.1 200"), "a slot freed is usable");
}

#[tokio::test]
async fn the_overall_cap_holds_for_every_address() {
    let server = Server::with(|raw| {
        raw.server.max_connections = 3;
        raw.server.max_connections_per_address = 3;
        raw.server.header_read_timeout = "10m".into();
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..3 {
        slow.push(slow_client(&server, IpAddr::V4(Ipv4Addr::LOCALHOST)).await);
    }
    let mut other = connect_from(&server, SECOND_CLIENT).await;
    assert_eq!(healthz(&mut other).await, "", "a fourth connection is closed, whatever its address");
    wait_for_open(&server, 3).await;
    assert_eq!(server.auth.connections().stats().refused_overall, 1);
}

#[tokio::test]
async fn a_request_head_not_finished_in_time_is_cut() {
    let server = Server::with(|raw| raw.server.header_read_timeout = "300ms".into()).await;
    let mut slow = slow_client(&server, IpAddr::V4(Ipv4Addr::LOCALHOST)).await;
    let answer = read_until_closed(&mut slow).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    wait_for_open(&server, 0).await;
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let server = Server::with(|raw| {
        raw.server.header_read_timeout = "10s".into();
        raw.server.keep_alive_timeout = "300ms".into();
    })
    .await;
    let mut stream = connect_from(&server, IpAddr::V4(Ipv4Addr::LOCALHOST)).await;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: portcullis\r\n\r\n").await.unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200", "the connection is kept alive after the answer");
    let rest = read_until_closed(&mut stream).await;
    assert!(!String::from_utf8_lossy(&rest).contains("HTTP/1.1"), "nothing but the first answer");
    wait_for_open(&server, 0).await;
}

/// One request on a kept-alive connection, read up to the end of its small JSON body.
async fn kept_alive_healthz(stream: &mut TcpStream) {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: portcullis\r\n\r\n").await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"{\"status\":\"ok\"}\n") {
        let n = tokio::time::timeout(HANG, stream.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 200"));
}

#[tokio::test]
async fn between_requests_the_idle_limit_applies_and_a_started_head_has_the_header_deadline() {
    let server = Server::with(|raw| {
        raw.server.header_read_timeout = "300ms".into();
        raw.server.keep_alive_timeout = "10m".into();
    })
    .await;
    let mut stream = connect_from(&server, IpAddr::V4(Ipv4Addr::LOCALHOST)).await;
    kept_alive_healthz(&mut stream).await;
    // Idle for longer than a head may take: the connection is still there for the next request.
    tokio::time::sleep(Duration::from_secs(1)).await;
    kept_alive_healthz(&mut stream).await;
    // A head begun on it and not finished is cut, long before the idle limit.
    stream.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let rest = String::from_utf8_lossy(&read_until_closed(&mut stream).await).into_owned();
    assert!(rest.is_empty() || rest.starts_with("HTTP/1.1 408"), "{rest}");
}
