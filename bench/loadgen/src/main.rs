//! `refresh-load URL SECONDS FAMILIES`: each of FAMILIES concurrent clients logs in through
//! `POST /auth/login` as test/test, then rotates its own refresh-token chain with
//! `POST /auth/refresh` (double-submit header included) as fast as it can for SECONDS.
//! Prints `rotations=N seconds=S rate=R errors=E`; any non-200 refresh is an error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
        let (k, rest) = c.split_once('=')?;
        (k == name).then(|| rest.split(';').next().unwrap_or("").to_owned())
    })
}

async fn chain(client: reqwest::Client, url: String, until: Instant, done: Arc<AtomicU64>, errors: Arc<AtomicU64>) {
    // The bench account's password: the demo's `test`, or BENCH_PASSWORD (bench/run.sh --store).
    let password = std::env::var("BENCH_PASSWORD").unwrap_or_else(|_| "test".into());
    let login = client
        .post(format!("{url}/auth/login"))
        .json(&serde_json::json!({"username": "test", "password": password}))
        .send()
        .await;
    let Ok(login) = login else {
        errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let (Some(mut refresh), Some(csrf)) =
        (cookie(&login, "refresh_token_cookie"), cookie(&login, "csrf_refresh_token"))
    else {
        errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    while Instant::now() < until {
        let res = client
            .post(format!("{url}/auth/refresh"))
            .header("Cookie", format!("refresh_token_cookie={refresh}; csrf_refresh_token={csrf}"))
            .header("X-CSRF-TOKEN", &csrf)
            .send()
            .await;
        match res {
            Ok(res) if res.status() == 200 => match cookie(&res, "refresh_token_cookie") {
                Some(next) => {
                    refresh = next;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
            _ => {
                errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).cloned().unwrap_or_else(|| "http://127.0.0.1:8000".into());
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let families: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(64);
    let client = reqwest::Client::builder().pool_max_idle_per_host(families).build().expect("http client");
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    // Logins (argon2) happen before the clock starts.
    let start = Instant::now() + Duration::from_secs(3);
    let until = start + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..families)
        .map(|_| tokio::spawn(chain(client.clone(), url.clone(), until, Arc::clone(&done), Arc::clone(&errors))))
        .collect();
    tokio::time::sleep_until(start.into()).await;
    let at_start = done.load(Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let rotations = done.load(Ordering::Relaxed) - at_start;
    let elapsed = seconds as f64;
    println!(
        "rotations={rotations} seconds={elapsed} rate={:.1} errors={}",
        rotations as f64 / elapsed,
        errors.load(Ordering::Relaxed)
    );
}
