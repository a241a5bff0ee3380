//! Store files are the owner's alone: created 0600 (with their WAL, shared
//! memory and journal) and refused when group or others can read or write
//! them or their directory.

use std::fs::{self, Permissions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use renkei_node::NodeStore;
use renkei_registry::RegistryStore;
use renkei_store_sqlite::{
    DbError, Durability, SqliteHubStore, SqliteNodeStore, SqlitePortalStore, SqliteRegistryStore,
    SqliteWitnessStore,
};

use super::{code, corp, private_dir};

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn chmod(p: &Path, m: u32) {
    fs::set_permissions(p, Permissions::from_mode(m)).unwrap();
}

/// Every file SQLite made for `db` (the file, -wal, -shm, -journal).
fn store_files(db: &Path) -> Vec<PathBuf> {
    let name = db.file_name().unwrap().to_string_lossy().into_owned();
    let mut out: Vec<PathBuf> = fs::read_dir(db.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&name))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn every_store_and_its_wal_and_shm_are_created_owner_only() {
    let dir = private_dir();
    let d = dir.path();
    // Stores stay open (WAL and shared memory exist) while modes are read.
    let hub = SqliteHubStore::open(&d.join("hub.sqlite"), Durability::Full)
        .await
        .unwrap();
    let node = SqliteNodeStore::open(&d.join("node.sqlite"), Durability::Full)
        .await
        .unwrap();
    node.enrol(vec![renkei_node::EnrolledPerson {
        local_id: renkei_ids::LocalPersonId::parse("A-1").unwrap(),
        code: code(1),
        enrolled_at: renkei_protocol::UnixMillis(1),
    }])
    .await
    .unwrap();
    let registry = SqliteRegistryStore::open(&d.join("registry.sqlite"), Durability::Full)
        .await
        .unwrap();
    registry
        .claim_acquisition_numbers(corp(5), vec![], renkei_protocol::UnixMillis(1))
        .await
        .unwrap();
    let portal = SqlitePortalStore::open(&d.join("portal.sqlite"), Durability::Full)
        .await
        .unwrap();
    let witness = SqliteWitnessStore::open(&d.join("witness.sqlite"), Durability::Full)
        .await
        .unwrap();
    for name in ["hub", "node", "registry", "portal", "witness"] {
        let files = store_files(&d.join(format!("{name}.sqlite")));
        assert!(
            files.iter().any(|f| f.to_string_lossy().ends_with("-wal")),
            "{name}: {files:?}"
        );
        for f in &files {
            assert_eq!(mode(f), 0o600, "{} is {:04o}", f.display(), mode(f));
        }
    }
    drop((hub, node, registry, portal, witness));
}

fn refused(r: Result<impl std::fmt::Debug, DbError>, path: &Path, shown_mode: &str, fix: &str) {
    let e = r.expect_err("the store must be refused");
    let text = e.to_string();
    assert!(matches!(e, DbError::Permissions { .. }), "{e:?}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains(shown_mode), "{text}");
    assert!(text.contains(fix), "{text}");
}

#[tokio::test]
async fn a_store_others_can_read_or_write_is_refused_with_the_fix() {
    let dir = private_dir();
    let db = dir.path().join("registry.sqlite");
    drop(SqliteRegistryStore::open(&db, Durability::Normal).await.unwrap());

    // The file: readable by the group, by others, writable by the group.
    for m in [0o640, 0o604, 0o620, 0o644] {
        chmod(&db, m);
        refused(
            SqliteRegistryStore::open(&db, Durability::Normal).await,
            &db,
            &format!("{m:04o}"),
            &format!("chmod 600 {}", db.display()),
        );
    }
    chmod(&db, 0o600);
    drop(SqliteRegistryStore::open(&db, Durability::Normal).await.unwrap());

    // A WAL file left readable (e.g. by an older renkei) is refused too.
    let wal = dir.path().join("registry.sqlite-wal");
    fs::write(&wal, b"").unwrap();
    chmod(&wal, 0o644);
    refused(
        SqliteRegistryStore::open(&db, Durability::Normal).await,
        &wal,
        "0644",
        &format!("chmod 600 {}", wal.display()),
    );
    fs::remove_file(&wal).unwrap();

    // The directory: others may list or replace the files in it.
    for m in [0o755, 0o750, 0o707, 0o770] {
        chmod(dir.path(), m);
        refused(
            SqliteRegistryStore::open(&db, Durability::Normal).await,
            dir.path(),
            &format!("{m:04o}"),
            &format!("chmod 700 {}", dir.path().display()),
        );
    }
    // Search permission alone (0711) reveals no name and no content.
    chmod(dir.path(), 0o711);
    drop(SqliteRegistryStore::open(&db, Durability::Normal).await.unwrap());
    chmod(dir.path(), 0o700);

    // A new store is refused in such a directory before anything is created.
    let sub = dir.path().join("open");
    fs::create_dir(&sub).unwrap();
    chmod(&sub, 0o755);
    let fresh = sub.join("node.sqlite");
    refused(
        SqliteNodeStore::open(&fresh, Durability::Normal).await,
        &sub,
        "0755",
        "chmod 700",
    );
    assert!(!fresh.exists());
}
