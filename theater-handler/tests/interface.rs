//! The interface the runtime checks actors' imports against is the original handler's.

use theater::config::actor_manifest::TcpHandlerConfig;
use theater::handler::Handler;

fn ours() -> theater_tcp_handler::TcpHandler {
    theater_tcp_handler::TcpHandler::new(TcpHandlerConfig::default())
}

fn original() -> theater_handler_tcp::TcpHandler {
    theater_handler_tcp::TcpHandler::new(TcpHandlerConfig::default())
}

#[test]
fn interface_hash_equals_the_original_crates() {
    let ours = Handler::interface_hashes(&ours());
    let original = Handler::interface_hashes(&original());
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].0, "theater:simple/tcp");
    assert_eq!(ours, original);
}

#[test]
fn every_subset_an_actor_may_import_hashes_the_same() {
    let ours = Handler::interfaces(&ours());
    let original = Handler::interfaces(&original());
    let names = [
        "connect",
        "listen",
        "accept",
        "activate",
        "set-active",
        "transfer",
        "transfer-async",
        "peer-address",
        "send",
        "receive",
        "close",
        "close-listener",
        "upgrade-to-tls-server",
        "upgrade-to-tls-client",
    ];
    for n in 1..=names.len() {
        let subset = &names[..n];
        let a = ours[0].hash_subset(subset).expect("ours has them");
        let b = original[0].hash_subset(subset).expect("original has them");
        assert_eq!(a, b, "subset {subset:?}");
    }
    assert!(ours[0].hash_subset(&["no-such-function"]).is_none());
}

#[test]
fn name_imports_and_exports_are_the_originals() {
    let (ours, original) = (ours(), original());
    assert_eq!(Handler::name(&ours), Handler::name(&original));
    assert_eq!(Handler::imports(&ours), Handler::imports(&original));
    assert_eq!(Handler::exports(&ours), Handler::exports(&original));
    assert!(Handler::supports_composite(&ours));
    // As with the original, a clone is a handler of the same interface.
    assert_eq!(
        Handler::interface_hashes(&ours.clone()),
        Handler::interface_hashes(&original.clone())
    );
}
