//! Builds every test actor in `actors/*/` into a wasm component, in OUT_DIR.
//!
//! No wasm32 Rust target exists on these machines, so the actors are C: for each actor the
//! `theater:simple` package of `theater-adapter/wit/` is copied with the actor's own
//! `world.wit` in place of `tcp-client.wit` (the callbacks it exports), C bindings for world
//! `tcp-actor` are generated with wit-bindgen-c, clang compiles and wasm-ld links them to a
//! core module with wasi-libc (malloc, string.h only: no WASI imports), and wit-component
//! turns the module into a component. `src/lib.rs` includes the result as `ACTORS`.

use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What `scripts/setup.sh` installs for this build.
const SETUP: &str = "run `bash scripts/setup.sh` (installs clang, lld and wasi-libc)";

/// Where Debian's wasi-libc puts its headers and libraries (`--sysroot=/usr`).
const SYSROOT: &str = "/usr";

fn main() -> Result<()> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let wit = manifest.join("../theater-adapter/wit");
    let actors = manifest.join("actors");
    println!("cargo:rerun-if-changed={}", wit.display());
    println!("cargo:rerun-if-changed={}", actors.display());
    check_toolchain()?;

    let mut names = Vec::new();
    for entry in std::fs::read_dir(&actors)? {
        let dir = entry?.path();
        if dir.join("world.wit").is_file() {
            println!("cargo:rerun-if-changed={}", dir.display());
            for file in std::fs::read_dir(&dir)? {
                println!("cargo:rerun-if-changed={}", file?.path().display());
            }
            names.push(dir);
        }
    }
    names.sort();
    for file in std::fs::read_dir(actors.join("common"))? {
        println!("cargo:rerun-if-changed={}", file?.path().display());
    }

    let mut table = String::from(
        "/// Every test actor: (name, component bytes).\npub const ACTORS: &[(&str, &[u8])] = &[\n",
    );
    for dir in &names {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .context("actor folder name")?;
        let component = build_actor(name, dir, &wit, &actors.join("common"), &out)
            .with_context(|| format!("building test actor {name}"))?;
        writeln!(
            table,
            "    ({name:?}, include_bytes!({:?})),",
            component.display()
        )?;
    }
    table.push_str("];\n");
    std::fs::write(out.join("actors.rs"), table)?;
    Ok(())
}

/// Fails with the command that installs what is missing.
fn check_toolchain() -> Result<()> {
    for tool in ["clang", "wasm-ld"] {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            bail!("`{tool}` not found: the wasm test actors need it; {SETUP}");
        }
    }
    let libc = Path::new(SYSROOT).join("lib/wasm32-wasi/libc.a");
    if !libc.is_file() {
        bail!("{} not found (wasi-libc): {SETUP}", libc.display());
    }
    Ok(())
}

/// The package of `wit` with `world.wit` as its `tcp-client` interface, after checking that
/// every callback `world.wit` declares is spelled exactly as in the real interface.
fn actor_package(dir: &Path, wit: &Path, into: &Path) -> Result<()> {
    let real = std::fs::read_to_string(wit.join("tcp-client.wit"))?;
    let real: Vec<&str> = real.lines().map(str::trim).collect();
    let own = std::fs::read_to_string(dir.join("world.wit"))?;
    for line in own.lines().map(str::trim).filter(|l| l.contains(": func(")) {
        if !real.contains(&line) {
            bail!(
                "{}: `{line}` is not a callback of theater-adapter/wit/tcp-client.wit",
                dir.join("world.wit").display()
            );
        }
    }
    std::fs::create_dir_all(into)?;
    for file in ["tcp.wit", "tcp-ext.wit", "actor.wit"] {
        std::fs::copy(wit.join(file), into.join(file))?;
    }
    std::fs::write(into.join("tcp-client.wit"), own)?;
    Ok(())
}

fn build_actor(name: &str, dir: &Path, wit: &Path, common: &Path, out: &Path) -> Result<PathBuf> {
    let work = out.join("actors").join(name);
    let package = work.join("wit");
    actor_package(dir, wit, &package)?;

    // C bindings for world `tcp-actor` of the trimmed package.
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve.push_dir(&package)?;
    let world = resolve.select_world(&[pkg], Some("tcp-actor"))?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)?;
    let generated = work.join("bindings");
    std::fs::create_dir_all(&generated)?;
    let mut inputs = Vec::new();
    for (file, contents) in files.iter() {
        let path = generated.join(file);
        std::fs::write(&path, contents)?;
        if file.ends_with(".c") || file.ends_with(".o") {
            inputs.push(path);
        }
    }
    for file in std::fs::read_dir(dir)? {
        let path = file?.path();
        if path.extension().is_some_and(|e| e == "c") {
            inputs.push(path);
        }
    }

    // A reactor module: no `_start`, only the exports the bindings mark.
    let module = work.join("module.wasm");
    let output = Command::new("clang")
        .args([
            "--target=wasm32-wasi",
            &format!("--sysroot={SYSROOT}"),
            "-O2",
            "-std=c11",
            "-Wall",
            "-Werror",
            "-Wno-unused-function",
            "-nostartfiles",
            "-Wl,--no-entry",
            "-Wl,--export=cabi_realloc",
        ])
        .arg("-I")
        .arg(&generated)
        .arg("-I")
        .arg(common)
        .args(&inputs)
        .arg("-o")
        .arg(&module)
        .output()
        .context("running clang")?;
    if !output.status.success() {
        bail!(
            "clang failed for actor {name}:\n{}{}\n(if a tool or header is missing: {SETUP})",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let module = std::fs::read(&module)?;
    let component = wit_component::ComponentEncoder::default()
        .module(&module)?
        .validate(true)
        .encode()?;
    let path = out.join(format!("{name}.wasm"));
    std::fs::write(&path, component)?;
    Ok(path)
}
