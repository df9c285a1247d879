//! Throwaway PostgreSQL databases for tests: `DRBOT_TEST_POSTGRES_URL`
//! (default the local server, trust auth) is the admin connection; each test
//! gets a database of its own and drops it.

use sqlx::Connection;

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

fn admin_url() -> String {
    std::env::var("DRBOT_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.to_string())
}

/// A database that exists until `drop_database`.
pub struct TestDatabase {
    pub url: String,
    name: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        sqlx::any::install_default_drivers();
        let admin_url = admin_url();
        let mut admin = sqlx::AnyConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!("PostgreSQL is not reachable at {admin_url} ({e}): run .ci/setup.d/10-postgres.sh")
        });
        let name = format!("drbot_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut admin).await.unwrap();
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        TestDatabase { url: format!("{base}/{name}"), name }
    }

    pub async fn drop_database(self) {
        let mut admin = sqlx::AnyConnection::connect(&admin_url()).await.unwrap();
        sqlx::query(&format!("DROP DATABASE \"{}\" WITH (FORCE)", self.name)).execute(&mut admin).await.unwrap();
    }
}
