//! Connection errors of the client name the broker address and the reason.

use runnel::client::{Client, ClientError, ConnectionConfig};

#[tokio::test]
async fn refused_connection_names_the_address() {
    // A port that was free a moment ago and has no listener now.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    drop(listener);
    let err = Client::connect(&addr).await.expect_err("nothing listens");
    assert_eq!(
        err.to_string(),
        format!("cannot connect to {addr}: connection refused")
    );
    assert!(matches!(err, ClientError::Connect { .. }));
}

#[tokio::test]
async fn every_bootstrap_address_is_tried() {
    let a = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let b = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let list = format!(
        "{},{}",
        a.local_addr().expect("addr"),
        b.local_addr().expect("addr")
    );
    drop((a, b));
    let err = Client::connect(&list).await.expect_err("nothing listens");
    assert!(
        err.to_string()
            .starts_with(&format!("no broker reachable in {list}: cannot connect to")),
        "{err}"
    );
}

#[tokio::test]
async fn silent_broker_times_out_during_the_handshake() {
    // Accepts the TCP connection but never answers ApiVersions.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let accept = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let config = ConnectionConfig {
        connect_timeout: std::time::Duration::from_millis(300),
        ..ConnectionConfig::default()
    };
    let err = Client::connect_with(&addr, config)
        .await
        .expect_err("no answer");
    assert_eq!(
        err.to_string(),
        format!("cannot connect to {addr}: no answer to ApiVersions")
    );
    accept.abort();
}

#[test]
fn bad_broker_lists_are_rejected() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let err = rt
        .block_on(Client::connect("localhost"))
        .expect_err("no port");
    assert_eq!(
        err.to_string(),
        "invalid broker address \"localhost\": expected host:port"
    );
}
