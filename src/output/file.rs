//! Output files that appear whole or not at all.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes `path` atomically: `write` fills a temporary file in the same folder, which is
/// flushed to disk and renamed over `path`. On any error nothing appears at `path`.
///
/// A symbolic link is written through (its target is replaced, the link stays). A path
/// that is not a regular file (a device such as `/dev/stdout` or `/dev/null`, a FIFO,
/// anything under `/dev` or `/proc`) is written directly as a stream: renaming over it
/// would replace it instead of writing to it.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&File>) -> io::Result<()>,
) -> io::Result<()> {
    if is_stream(path) {
        let file = File::options().write(true).open(path)?;
        let mut w = BufWriter::new(&file);
        write(&mut w)?;
        return w.flush();
    }
    let path = &resolve_links(path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-").suffix(".partial");
    // As a plain created file would be (0666 less the umask), not tempfile's 0600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let tmp = builder.tempfile_in(dir).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => io::Error::new(
            io::ErrorKind::NotFound,
            format!("folder {} does not exist", dir.display()),
        ),
        kind => io::Error::new(
            kind,
            format!("cannot create a file in {}: {kind}", dir.display()),
        ),
    })?;
    {
        let mut w = BufWriter::new(tmp.as_file());
        write(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// True for a path written directly: an existing file that is not a regular file
/// (following links), or one under `/dev` or `/proc` (`/dev/stdout` is a link to the
/// process's own descriptor, whatever that is).
fn is_stream(path: &Path) -> bool {
    path.starts_with("/dev")
        || path.starts_with("/proc")
        || std::fs::metadata(path).is_ok_and(|m| !m.is_file())
}

/// Follows symbolic links from `path` to the file they name (which need not exist yet).
fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    // The kernel's own limit on links followed (ELOOP).
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::other(format!(
        "{}: too many levels of symbolic links",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn atomic_write_leaves_nothing_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.txt");
        let err = write_atomic(&path, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("boom"))
        });
        assert!(err.is_err());
        assert!(!path.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        write_atomic(&path, |w| w.write_all(b"whole")).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "whole");
    }

    #[cfg(unix)]
    #[test]
    fn writes_through_links_and_into_devices() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.html");
        fs::write(&real, "old").unwrap();
        let link = dir.path().join("link.html");
        std::os::unix::fs::symlink("real.html", &link).unwrap();
        write_atomic(&link, |w| w.write_all(b"new")).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&real).unwrap(), "new");
        // A dangling link: its target is created.
        let dangling = dir.path().join("to-be.html");
        std::os::unix::fs::symlink("made.html", &dangling).unwrap();
        write_atomic(&dangling, |w| w.write_all(b"made")).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("made.html")).unwrap(),
            "made"
        );
        // A device is written, not replaced.
        write_atomic(Path::new("/dev/null"), |w| w.write_all(b"gone")).unwrap();
        assert!(!fs::metadata("/dev/null").unwrap().is_file());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 4);
    }
}
