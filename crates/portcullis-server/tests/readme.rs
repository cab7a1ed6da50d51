//! The README's curl walk-through, run as written against `serve --demo`.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The walk-through block: from `URL=` to the end of its code fence.
fn walkthrough() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme.find("URL=http://127.0.0.1:8000").expect("walk-through in README");
    let end = start + readme[start..].find("```").unwrap();
    readme[start..end].to_owned()
}

#[test]
fn the_readme_walkthrough_works_as_written() {
    if Command::new("curl").arg("--version").output().is_err() {
        panic!("curl is needed for the README walk-through test");
    }
    // `--demo` brings its own temporary database: no data directory is configured.
    let mut server = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["serve", "--demo", "--bind", "127.0.0.1:0"])
        .env_remove("PORTCULLIS_SERVER__DATA_DIR")
        .env("PORTCULLIS_LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("Portcullis listening on ").unwrap().to_owned();

    let script = walkthrough().replace("URL=http://127.0.0.1:8000", &format!("URL={url}"));
    let out = Command::new("bash").arg("-euo").arg("pipefail").arg("-c").arg(&script).output().unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Each `# {...}` comment in the block is the body that line prints.
    let expected: Vec<String> = walkthrough()
        .lines()
        .filter_map(|l| l.split_once("# ").map(|(_, c)| c.trim().to_owned()))
        .filter(|c| c.starts_with('{'))
        .collect();
    let printed = String::from_utf8(out.stdout).unwrap();
    let printed: Vec<&str> = printed.lines().collect();
    assert_eq!(printed.len(), expected.len() + 1, "{printed:?}");
    for (got, want) in printed.iter().zip(&expected) {
        assert_eq!(*got, want);
    }
    let last: serde_json::Value = serde_json::from_str(printed[expected.len()]).unwrap();
    assert_eq!(last["code"], "unauthenticated");
}
