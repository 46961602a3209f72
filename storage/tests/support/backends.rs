//! `on_both_backends!(scenario, …)`: one `#[tokio::test]` per backend for each generic
//! scenario `async fn scenario<S>(s: &S)`, on a fresh store each: SQLite in a temporary
//! folder, and PostgreSQL in a throwaway cluster (migrated as the owner, connected as the
//! application's role, so row-level security applies). Included by path with
//! `#[path = "support/backends.rs"] #[macro_use] mod backends;`.

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $scenario() {
                let dir = tempfile::tempdir().unwrap();
                let s = autonoma_storage::SqliteStore::connect(&format!(
                    "sqlite://{}/t.db",
                    dir.path().display()
                ))
                .await
                .unwrap();
                s.migrate().await.unwrap();
                super::$scenario(&s).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $scenario() {
                let server = autonoma_testkit::postgres::PgServer::start();
                autonoma_storage::PgStore::migrate(&server.owner_url()).await.unwrap();
                let s = autonoma_storage::PgStore::connect(&server.app_url()).await.unwrap();
                super::$scenario(&s).await;
            })*
        }
    };
}
