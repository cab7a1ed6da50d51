//! The store conformance kit run from outside the crate, as a crate writing its own backend
//! would run it, over each backend this crate ships.

use portcullis::store::postgres::testing::TempDatabase;
use portcullis::store::{open, testkit};

#[tokio::test]
async fn sqlite_file_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = open(&format!("sqlite://{}", dir.path().join("kit.db").display())).await.expect("open");
    testkit::run(&stores).await;
}

#[tokio::test]
async fn sqlite_in_memory_conforms() {
    testkit::run(&open("sqlite::memory:").await.expect("open")).await;
}

#[tokio::test]
async fn postgres_conforms() {
    let db = TempDatabase::create().await.expect("temporary database");
    testkit::run(&open(&db.url).await.expect("open")).await;
}
