//! A fresh store on either back-end for the store's behaviour suites, and
//! `on_both_backends!` to run one test body on SQLite and on PostgreSQL.

use std::future::Future;

use drbot::store::{Backend, Store};

use super::postgres::TestDatabase;

/// A fresh store on one back-end, and how to clean it up.
pub enum Fresh {
    Sqlite { url: String, _dir: tempfile::TempDir },
    Postgres(TestDatabase),
}

impl Fresh {
    pub async fn new(backend: Backend) -> Fresh {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("drbot.db").display());
                Fresh::Sqlite { url, _dir: dir }
            }
            Backend::Postgres => Fresh::Postgres(TestDatabase::create().await),
        }
    }

    pub fn url(&self) -> &str {
        match self {
            Fresh::Sqlite { url, .. } | Fresh::Postgres(TestDatabase { url, .. }) => url,
        }
    }

    pub async fn open(&self) -> Store {
        Store::open(self.url()).await.unwrap()
    }

    async fn drop_database(self) {
        if let Fresh::Postgres(database) = self {
            database.drop_database().await;
        }
    }
}

/// Runs `test` against a fresh store of `backend`, then cleans up.
pub async fn with_fresh<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Fresh) -> Fut,
    Fut: Future<Output = Fresh>,
{
    let fresh = Fresh::new(backend).await;
    let fresh = test(fresh).await;
    fresh.drop_database().await;
}

/// One test body, two tests: `NAME::sqlite` and `NAME::postgres`.
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                $crate::support::fresh::with_fresh(drbot::store::Backend::Sqlite, $body).await;
            }

            #[tokio::test]
            async fn postgres() {
                $crate::support::fresh::with_fresh(drbot::store::Backend::Postgres, $body).await;
            }
        }
    };
}
