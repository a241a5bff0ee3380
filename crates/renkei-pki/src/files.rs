//! Writing and reading key and certificate files.
//!
//! Every write goes to a temporary file in the target directory which is
//! synced and then moved into place, so a crash leaves either the old file or
//! the complete new one, never half a key. Private files are created with mode
//! 0600 from the first byte; there is no window in which they are wider.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use zeroize::Zeroizing;

use crate::PkiError;

/// Mode of private key files.
pub const PRIVATE_MODE: u32 = 0o600;
/// Mode of certificates, CRLs and other public files.
pub const PUBLIC_MODE: u32 = 0o644;

/// What to do when the target file already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Fail with [`PkiError::AlreadyExists`]; the existing file is untouched.
    CreateNew,
    /// Atomically replace the existing file.
    Replace,
}

/// Write a private key (or other secret) with mode 0600.
pub fn write_private(path: &Path, bytes: &[u8], mode: WriteMode) -> Result<(), PkiError> {
    write_atomic(path, bytes, PRIVATE_MODE, mode)
}

/// Write a certificate, CRL or other public file with mode 0644.
pub fn write_public(path: &Path, bytes: &[u8], mode: WriteMode) -> Result<(), PkiError> {
    write_atomic(path, bytes, PUBLIC_MODE, mode)
}

/// Read a private key file, refusing one that group or others can access:
/// a key that has been world-readable must be treated as leaked, so we make
/// the operator look at it instead of using it quietly.
pub fn read_private(path: &Path) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let mut file = File::open(path).map_err(|e| PkiError::io("open", path, e))?;
    // Check the opened handle, not the path, so the file cannot be swapped
    // between the check and the read.
    let meta = file.metadata().map_err(|e| PkiError::io("stat", path, e))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(PkiError::InsecureKeyFile {
            path: path.to_owned(),
            mode,
        });
    }
    let capacity = usize::try_from(meta.len()).unwrap_or(0).saturating_add(1);
    let mut buf = Zeroizing::new(Vec::with_capacity(capacity));
    file.read_to_end(&mut buf)
        .map_err(|e| PkiError::io("read", path, e))?;
    Ok(buf)
}

/// Read a public file (certificate, CRL, state).
pub fn read_public(path: &Path) -> Result<Vec<u8>, PkiError> {
    fs::read(path).map_err(|e| PkiError::io("read", path, e))
}

fn write_atomic(path: &Path, bytes: &[u8], perm: u32, mode: WriteMode) -> Result<(), PkiError> {
    let file_name = path
        .file_name()
        .ok_or_else(|| {
            PkiError::io(
                "write",
                path,
                std::io::Error::new(ErrorKind::InvalidInput, "path has no file name"),
            )
        })?
        .to_string_lossy()
        .into_owned();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    if mode == WriteMode::CreateNew && path.exists() {
        return Err(PkiError::AlreadyExists {
            path: path.to_owned(),
        });
    }

    let tmp = dir.join(temp_name(&file_name));
    let result = write_temp(&tmp, bytes, perm).and_then(|()| match mode {
        // A hard link fails if the target exists, which makes "create new"
        // race-free even against another process doing the same.
        WriteMode::CreateNew => fs::hard_link(&tmp, path).map_err(|e| {
            if e.kind() == ErrorKind::AlreadyExists {
                PkiError::AlreadyExists {
                    path: path.to_owned(),
                }
            } else {
                PkiError::io("create", path, e)
            }
        }),
        WriteMode::Replace => fs::rename(&tmp, path).map_err(|e| PkiError::io("replace", path, e)),
    });
    // After a hard link (or a failure) the temporary name must go; after a
    // rename it is already gone.
    let _ = fs::remove_file(&tmp);
    result?;
    sync_dir(&dir);
    Ok(())
}

fn write_temp(tmp: &Path, bytes: &[u8], perm: u32) -> Result<(), PkiError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(perm)
        .open(tmp)
        .map_err(|e| PkiError::io("create", tmp, e))?;
    // The umask may have narrowed the mode; public files should still be
    // readable by the services that need them.
    f.set_permissions(Permissions::from_mode(perm))
        .map_err(|e| PkiError::io("chmod", tmp, e))?;
    f.write_all(bytes).map_err(|e| PkiError::io("write", tmp, e))?;
    f.sync_all().map_err(|e| PkiError::io("sync", tmp, e))
}

fn temp_name(file_name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".{file_name}.{}.{n}.tmp", std::process::id())
}

/// Make the rename durable. Failure only weakens crash safety, so it is
/// logged rather than returned.
fn sync_dir(dir: &Path) {
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(dir = %dir.display(), error = %e, "cannot sync directory");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(p: &Path) -> u32 {
        fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0)
    }

    #[test]
    fn private_file_is_0600_and_not_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("k.key");
        write_private(&p, b"secret", WriteMode::CreateNew).expect("write");
        assert_eq!(mode_of(&p), 0o600);
        let again = write_private(&p, b"other", WriteMode::CreateNew);
        assert!(matches!(again, Err(PkiError::AlreadyExists { .. })), "{again:?}");
        assert_eq!(fs::read(&p).ok().as_deref(), Some(&b"secret"[..]));
        write_private(&p, b"other", WriteMode::Replace).expect("replace");
        assert_eq!(
            read_private(&p).ok().as_deref().map(|v| v.as_slice()),
            Some(&b"other"[..])
        );
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("read_dir")
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn public_file_is_0644() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("c.crt");
        write_public(&p, b"cert", WriteMode::CreateNew).expect("write");
        assert_eq!(mode_of(&p), 0o644);
    }

    #[test]
    fn read_private_refuses_group_or_world_access() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("k.key");
        write_private(&p, b"secret", WriteMode::CreateNew).expect("write");
        for bad in [0o644, 0o640, 0o604, 0o660] {
            fs::set_permissions(&p, Permissions::from_mode(bad)).expect("chmod");
            let r = read_private(&p);
            match r {
                Err(PkiError::InsecureKeyFile { mode, .. }) => assert_eq!(mode, bad),
                other => panic!("mode {bad:o}: expected InsecureKeyFile, got {other:?}"),
            }
        }
        fs::set_permissions(&p, Permissions::from_mode(0o400)).expect("chmod");
        assert!(read_private(&p).is_ok());
    }

    #[test]
    fn insecure_key_error_tells_the_user_to_chmod() {
        let e = PkiError::InsecureKeyFile {
            path: PathBuf::from("/x/node.key"),
            mode: 0o644,
        };
        let msg = e.to_string();
        assert!(msg.contains("chmod 600 /x/node.key"), "{msg}");
        assert!(msg.contains("0644"), "{msg}");
    }
}
