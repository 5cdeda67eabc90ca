//! Where the files a policy names (JWKS files, descriptor sets,
//! dictionaries) are read from: the policy's directory on disk, or the
//! verified contents of a bundle. Every read is bounded.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Why a file the policy names could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    /// Not there, not readable: the reason.
    Io(String),
    /// A directory or other non-file.
    NotAFile,
    /// More bytes than the reader accepts.
    TooLarge,
}

/// The files a policy names, by the name it writes.
pub trait PolicyFiles {
    /// The file's bytes, refused when there are more than `max`.
    fn read(&self, name: &str, max: u64) -> Result<Vec<u8>, FileError>;
    /// How `name` is shown in messages.
    fn shown(&self, name: &str) -> String;
    /// Its path on disk, when a change to it should reload the policy.
    fn path(&self, _name: &str) -> Option<PathBuf> {
        None
    }
}

/// Files relative to a directory (the policy file's), or as written.
#[derive(Debug, Clone, Copy)]
pub struct Dir<'a>(pub Option<&'a Path>);

impl Dir<'_> {
    fn resolve(&self, name: &str) -> PathBuf {
        self.0
            .map_or_else(|| Path::new(name).to_path_buf(), |d| d.join(name))
    }
}

impl PolicyFiles for Dir<'_> {
    fn read(&self, name: &str, max: u64) -> Result<Vec<u8>, FileError> {
        let io = |e: std::io::Error| FileError::Io(e.to_string());
        let file = std::fs::File::open(self.resolve(name)).map_err(io)?;
        if !file.metadata().map_err(io)?.is_file() {
            return Err(FileError::NotAFile);
        }
        // No more than the bound, whatever the file claims.
        let mut bytes = Vec::new();
        file.take(max.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > max {
            return Err(FileError::TooLarge);
        }
        Ok(bytes)
    }

    fn shown(&self, name: &str) -> String {
        self.resolve(name).display().to_string()
    }

    fn path(&self, name: &str) -> Option<PathBuf> {
        Some(self.resolve(name))
    }
}

/// A bundle's verified files, by name; nothing else is reachable.
#[derive(Debug, Clone, Copy)]
pub struct InMemory<'a> {
    pub files: &'a BTreeMap<String, Vec<u8>>,
    /// Where the bundle came from, for messages.
    pub origin: &'a str,
}

impl PolicyFiles for InMemory<'_> {
    fn read(&self, name: &str, max: u64) -> Result<Vec<u8>, FileError> {
        let bytes = self
            .files
            .get(name)
            .ok_or_else(|| FileError::Io("not in the bundle".to_owned()))?;
        if bytes.len() as u64 > max {
            return Err(FileError::TooLarge);
        }
        Ok(bytes.clone())
    }

    fn shown(&self, name: &str) -> String {
        format!("{}!{name}", self.origin)
    }
}

/// Reads from a directory and keeps what it read, by name: what
/// `chaperone bundle build` packs.
#[derive(Debug)]
pub struct Recording<'a> {
    dir: Dir<'a>,
    read: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl<'a> Recording<'a> {
    pub fn new(dir: Option<&'a Path>) -> Self {
        Self {
            dir: Dir(dir),
            read: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn into_files(self) -> BTreeMap<String, Vec<u8>> {
        self.read
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl PolicyFiles for Recording<'_> {
    fn read(&self, name: &str, max: u64) -> Result<Vec<u8>, FileError> {
        let bytes = self.dir.read(name, max)?;
        self.read
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned(), bytes.clone());
        Ok(bytes)
    }

    fn shown(&self, name: &str) -> String {
        self.dir.shown(name)
    }
}
