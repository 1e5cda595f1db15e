//! Manifest errors point at the key they are about.

use theater_tcp_adapter::{Manifest, ManifestError};

fn error(text: &str) -> ManifestError {
    Manifest::parse_toml(text).expect_err("the manifest is invalid")
}

#[test]
fn an_unknown_key_in_a_nested_table_is_named_with_its_full_path() {
    let e = error(
        r#"
        [[handler]]
        type = "tcp"
        [handler.server_tls]
        cert = "c.pem"
        key = "k.pem"
        kye = "typo"
        "#,
    );
    assert_eq!(e.key, "handler[0].server_tls.kye");
    assert!(e.message.contains("unknown field"), "{e}");
    assert!(
        e.to_string().starts_with("handler[0].server_tls.kye: "),
        "{e}"
    );
}

#[test]
fn a_missing_required_key_names_its_table() {
    let e = error(
        r#"
        [[handler]]
        type = "tcp"
        [handler.server_tls]
        enabled = true
        key = "k.pem"
        "#,
    );
    assert_eq!(e.key, "handler[0].server_tls");
    assert!(e.message.contains("cert"), "{e}");
}

#[test]
fn a_value_of_the_wrong_type_names_the_key() {
    let e = error(
        r#"
        [[handler]]
        type = "tcp"
        max_connections = "many"
        "#,
    );
    assert_eq!(e.key, "handler[0].max_connections");
}

#[test]
fn config_validation_errors_get_the_handler_prefix() {
    let e = error(
        r#"
        [[handler]]
        type = "runtime"
        [[handler]]
        type = "tcp"
        deny = ["10.0.0.0/8:*", "nope"]
        "#,
    );
    assert_eq!(e.key, "handler[1].deny[1]");
    let e = error(
        r#"
        [[handler]]
        type = "tcp"
        [handler.server_tls]
        enabled = true
        cert = ""
        key = "k.pem"
        "#,
    );
    assert_eq!(e.key, "handler[0].server_tls.cert");
}

#[test]
fn per_actor_quotas_are_handler_keys_and_zero_is_refused_by_name() {
    let manifest = Manifest::parse_toml(
        r#"
        [[handler]]
        type = "tcp"
        max_connections_per_actor = 100
        max_listeners_per_actor = 4
        max_buffered_bytes_per_actor = 16777216
        "#,
    )
    .expect("the quotas are keys of the handler table");
    assert_eq!(manifest.handler.max_connections_per_actor, Some(100));
    assert_eq!(manifest.handler.max_listeners_per_actor, Some(4));
    assert_eq!(
        manifest.handler.max_buffered_bytes_per_actor,
        Some(16 * 1024 * 1024)
    );
    for key in [
        "max_connections_per_actor",
        "max_listeners_per_actor",
        "max_buffered_bytes_per_actor",
    ] {
        let e = error(&format!("[[handler]]\ntype = \"tcp\"\n{key} = 0\n"));
        assert_eq!(e.key, format!("handler[0].{key}"), "{e}");
    }
}

#[test]
fn handler_types_are_checked() {
    let e = error("[[handler]]\ntype = \"http\"\n");
    assert_eq!(e.key, "handler[0].type");
    assert!(e.message.contains("http"), "{e}");
    let e = error("[[handler]]\nlisten = \"127.0.0.1:1\"\n");
    assert_eq!(e.key, "handler[0]");
    assert!(e.message.contains("type"), "{e}");
    let e = error("[[handler]]\ntype = \"tcp\"\n[[handler]]\ntype = \"tcp\"\n");
    assert_eq!(e.key, "handler[1].type");
}

#[test]
fn actor_entries_are_checked() {
    let e = error("[[actor]]\nid = \"a\"\n");
    assert_eq!(e.key, "actor[0]");
    assert!(e.message.contains("component"), "{e}");
    let e = error(
        "[[actor]]\nid = \"a\"\ncomponent = \"a.wasm\"\n[[actor]]\nid = \"a\"\ncomponent = \"b.wasm\"\n",
    );
    assert_eq!(e.key, "actor[1].id");
    assert!(e.message.contains("duplicate"), "{e}");
    let e = error("[[actor]]\nid = \"a\"\ncomponent = \"a.wasm\"\nextra = 1\n");
    assert_eq!(e.key, "actor[0].extra");
}

#[test]
fn limits_are_checked() {
    let e = error("[limits]\nfuel_per_callback = 0\n");
    assert_eq!(e.key, "limits.fuel_per_callback");
    let e = error("[limits]\nmax_memory_bytes = -1\n");
    assert_eq!(e.key, "limits.max_memory_bytes");
    let e = error("[limits]\nfuel = 5\n");
    assert_eq!(e.key, "limits.fuel");
}

#[test]
fn unknown_top_level_keys_and_bad_syntax_are_reported() {
    let e = error("colour = \"blue\"\n");
    assert!(e.message.contains("colour"), "{e}");
    let e = error("[[handler]\n");
    assert_eq!(e.key, "");
    assert!(e.message.contains("line 1"), "{e}");
}

#[test]
fn component_paths_are_relative_to_the_manifest_and_unreadable_ones_name_the_entry() {
    let dir = std::env::temp_dir().join(format!("theater-tcp-manifest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("m.toml");
    std::fs::write(
        &path,
        "[[actor]]\nid = \"a\"\ncomponent = \"missing.wasm\"\n",
    )
    .expect("write");
    let manifest = Manifest::load(&path).expect("loads");
    assert_eq!(manifest.actors[0].component, dir.join("missing.wasm"));
    let e = manifest.actor_specs().expect_err("the file is missing");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(e.key, "actor[0].component");
}
