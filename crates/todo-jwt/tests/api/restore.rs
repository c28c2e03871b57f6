//! Issue 21, row 10: what `todo-jwt restore` lets back in. A backup whose schema is not exactly
//! the one the migrations make (an added trigger, view or table; a missing or changed index) is
//! refused, naming the difference, and the database is untouched. A restore ends every session
//! and replaces the signing keys (old refresh and access tokens are refused, the JWK Set holds
//! only the new key), unless `--keep-sessions-and-keys`. Runs the real binary on SQLite (restore
//! is SQLite's), in both passes of the suite.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{Instance, TestApp, command, jwks, restore, start_with, take_backup};

const EMAIL: &str = "restore@example.com";

/// A data directory whose service was backed up with one user logged in, then went on.
struct BackedUp {
    data_dir: TempDir,
    /// The backup, taken with one todo (`before`) and the session below.
    backup: PathBuf,
    /// The session's tokens, from before the backup.
    access: String,
    refresh: String,
    /// The signing keys' ids at the backup.
    kids: Vec<String>,
}

impl BackedUp {
    /// A service on a data directory of its own: a user logs in and adds `before`, the service
    /// backs itself up, the user adds `after`, and the service stops.
    async fn new() -> Self {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let instance = start(data_dir.path());
        let app = &instance.app;
        assert_eq!(
            app.sign_up(EMAIL, "password123").await.status(),
            StatusCode::OK
        );
        let (access, refresh) = refresh_login(app).await;
        app.create_todo(&access, json!({ "title": "before" })).await;
        let kids = kids(&jwks(app).await);
        let backup = take_backup(&instance, data_dir.path()).await;
        app.create_todo(&access, json!({ "title": "after" })).await;
        drop(instance);
        Self {
            data_dir,
            backup,
            access,
            refresh,
            kids,
        }
    }

    /// A copy of the backup with `sql` run on it.
    fn altered(&self, sql: &str) -> PathBuf {
        let altered = self.data_dir.path().join("altered.sqlite3");
        let _ = std::fs::remove_file(&altered);
        std::fs::copy(&self.backup, &altered).expect("copy");
        rusqlite::Connection::open(&altered)
            .expect("open")
            .execute_batch(sql)
            .expect("altered");
        altered
    }

    /// Restoring `backup` is refused with a message that contains `says`; the database is
    /// as it was (its latest todo, and the session, still there), and no copy is left.
    async fn refused(&self, backup: &Path, says: &str) {
        let output = restore(self.data_dir.path(), backup, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "restored: {stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(stderr.contains("nothing restored"), "{stderr}");
        let left: Vec<_> = std::fs::read_dir(self.data_dir.path())
            .expect("data dir")
            .map(|entry| entry.expect("entry").file_name())
            .filter(|name| name.to_string_lossy().contains("restoring"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        let instance = start(self.data_dir.path());
        let app = &instance.app;
        assert_eq!(titles(app, &self.access).await, ["before", "after"]);
        assert_eq!(refresh(app, &self.refresh).await, StatusCode::OK);
    }
}

fn start(data_dir: &Path) -> Instance {
    start_with(command(data_dir), tempfile::tempdir().expect("tempdir"))
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| key["kid"].as_str().expect("kid").to_owned())
        .collect()
}

/// Logs in for an access and a refresh token.
async fn refresh_login(app: &TestApp) -> (String, String) {
    let response = app
        .post_json(
            "/users/refresh-login",
            &json!({"email": EMAIL, "password": "password123"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    let token = |name: &str| body[name].as_str().expect(name).to_owned();
    (token("accessToken"), token("refreshToken"))
}

/// What `POST /refresh` answers `token`.
async fn refresh(app: &TestApp, token: &str) -> StatusCode {
    app.post_json("/refresh", &json!({ "refreshToken": token }))
        .await
        .status()
}

async fn titles(app: &TestApp, token: &str) -> Vec<String> {
    let todos = app.get_json("/todos?filter[order]=id", token).await;
    todos
        .as_array()
        .expect("a list")
        .iter()
        .map(|todo| todo["title"].as_str().expect("title").to_owned())
        .collect()
}

/// A trigger that puts back every password changed: restored, it would keep a stolen
/// password working whatever the user does.
#[tokio::test]
async fn a_backup_with_an_added_trigger_is_refused_and_the_database_is_untouched() {
    let backed_up = BackedUp::new().await;
    let altered = backed_up.altered(
        "CREATE TRIGGER keep_password AFTER UPDATE OF password_hash ON users
         BEGIN UPDATE users SET password_hash = OLD.password_hash WHERE id = OLD.id; END;",
    );
    backed_up
        .refused(&altered, "an extra trigger keep_password on users")
        .await;
}

#[tokio::test]
async fn a_backup_with_a_view_or_an_extra_table_is_refused() {
    let backed_up = BackedUp::new().await;
    let altered = backed_up.altered("CREATE VIEW hashes AS SELECT email, password_hash FROM users");
    backed_up.refused(&altered, "an extra view hashes").await;
    let altered = backed_up.altered("CREATE TABLE notes (body TEXT)");
    backed_up.refused(&altered, "an extra table notes").await;
}

/// Without its index, every todo list would scan the whole table; an index by the expected
/// name but on other columns is no better.
#[tokio::test]
async fn a_backup_with_a_missing_or_changed_index_is_refused() {
    let backed_up = BackedUp::new().await;
    let altered = backed_up.altered("DROP INDEX todos_owner_id");
    backed_up
        .refused(&altered, "no index todos_owner_id on todos")
        .await;
    let altered = backed_up
        .altered("DROP INDEX sessions_user_id; CREATE INDEX sessions_user_id ON sessions (ip)");
    backed_up
        .refused(&altered, "a changed index sessions_user_id on sessions")
        .await;
}

/// Decided: the restore removes the backup's keys (not only adds one), so a key revoked after
/// the backup because it leaked cannot sign again, and tokens signed before the restore are
/// all refused; every user logs in again, which ending the sessions asks of them anyway.
#[tokio::test]
async fn a_restore_ends_every_session_and_replaces_the_signing_keys() {
    let backed_up = BackedUp::new().await;
    let output = restore(backed_up.data_dir.path(), &backed_up.backup, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("all 1 sessions ended"), "{stdout}");
    assert!(stdout.contains("--keep-sessions-and-keys"), "{stdout}");

    let instance = start(backed_up.data_dir.path());
    let app = &instance.app;
    assert_eq!(
        refresh(app, &backed_up.refresh).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.who_am_i(&backed_up.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let now = kids(&jwks(app).await);
    assert_eq!(now.len(), 1, "{now:?}");
    assert!(!backed_up.kids.contains(&now[0]), "{now:?}");
    assert!(
        stdout.contains(&format!("new signing key {}", now[0])),
        "{stdout}"
    );
    // The backup's data is back, and a new login signs with the new key.
    let (access, refresh_token) = refresh_login(app).await;
    let kid = jsonwebtoken::decode_header(&access).expect("header").kid;
    assert_eq!(kid.as_ref(), Some(&now[0]));
    assert_eq!(titles(app, &access).await, ["before"]);
    assert_eq!(refresh(app, &refresh_token).await, StatusCode::OK);
}

/// A backup from before the signing keys were stored (schema 7: the table and the later
/// migrations' changes dropped, the version set back) has that version's schema: it is restored, migrated, and its sessions ended too.
#[tokio::test]
async fn an_older_backup_restores_with_its_sessions_ended() {
    let backed_up = BackedUp::new().await;
    // The later migrations undone too (audit_counts, the refresh tokens' rotation, mail, the
    // second factor, the todos' versions).
    // The todos' version triggers replaced by the count triggers as the release before them
    // made them (SQLite keeps a trigger's text, and a restore compares it).
    let counted = include_str!("../../src/store/sqlite/migrations/0003_todo_count.sql");
    let counted = &counted[counted.find("CREATE TRIGGER").expect("its triggers")..];
    let older = backed_up.altered(&format!(
        "DROP TRIGGER todos_versioned_row; DROP TRIGGER todos_versioned_update; \
         DROP TRIGGER todos_counted_insert; \
         DROP TRIGGER todos_counted_delete; ALTER TABLE todos DROP COLUMN version; \
         ALTER TABLE users DROP COLUMN todos_version; {counted} \
         DROP TABLE signing_keys; DROP TABLE audit_counts; \
         ALTER TABLE refresh_tokens DROP COLUMN rotation; DROP TABLE outbox; \
         DROP TABLE mfa_recovery_codes; DROP TABLE mfa_totp; ALTER TABLE sessions DROP COLUMN aal; \
         DROP TABLE email_tokens; ALTER TABLE users DROP COLUMN email_verified_at; \
         PRAGMA user_version = 7;",
    ));
    let output = restore(backed_up.data_dir.path(), &older, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("all 1 sessions ended"), "{stdout}");

    let instance = start(backed_up.data_dir.path());
    let app = &instance.app;
    assert_eq!(
        refresh(app, &backed_up.refresh).await,
        StatusCode::UNAUTHORIZED
    );
    let (access, _) = refresh_login(app).await;
    assert_eq!(titles(app, &access).await, ["before"]);
}

#[tokio::test]
async fn a_restore_told_to_keep_sessions_and_keys_keeps_them() {
    let backed_up = BackedUp::new().await;
    let output = restore(
        backed_up.data_dir.path(),
        &backed_up.backup,
        &["--keep-sessions-and-keys"],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("kept"), "{stdout}");

    let instance = start(backed_up.data_dir.path());
    let app = &instance.app;
    assert_eq!(kids(&jwks(app).await), backed_up.kids);
    assert_eq!(
        app.who_am_i(&backed_up.access).await.status(),
        StatusCode::OK
    );
    assert_eq!(refresh(app, &backed_up.refresh).await, StatusCode::OK);
    assert_eq!(titles(app, &backed_up.access).await, ["before"]);
}
