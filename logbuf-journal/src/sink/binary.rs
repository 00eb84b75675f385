//! The binary journal file sink.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{Entry, Sink};
use crate::file::{FileHeader, FileWriter};
use crate::wire;

/// Writes the journal as a binary file, read back with [`FileReader`](crate::file::FileReader)
/// and the `logbuf` command.
///
/// Every callsite and thread-name record is kept, so a file started again (after
/// [`BinaryFileSink::reopen`]) repeats them and decodes on its own.
#[derive(Debug)]
pub struct BinaryFileSink {
    path: PathBuf,
    writer: Option<FileWriter<BufWriter<File>>>,
    /// Callsite and thread-name records seen so far, to start a new file with.
    definitions: Vec<Vec<u8>>,
    header: FileHeader,
}

impl BinaryFileSink {
    /// Creates (or truncates) the file at `path`, creating its directory if needed.
    ///
    /// # Errors
    ///
    /// If the directory or file cannot be created.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        let mut sink = Self {
            path: path.as_ref().to_path_buf(),
            writer: None,
            definitions: Vec::new(),
            header: FileHeader {
                pid: std::process::id(),
                program: program_name(),
                clock: wire::Clock {
                    ticks: 0,
                    unix_nanos: 0,
                },
            },
        };
        sink.reopen()?;
        Ok(sink)
    }

    /// Closes the current file and starts it again from the beginning: header, then every
    /// definition seen so far. Use after moving the file away (log rotation by another tool).
    ///
    /// # Errors
    ///
    /// If the file cannot be created; the sink then tries again on the next write.
    pub fn reopen(&mut self) -> io::Result<()> {
        if let Some(mut old) = self.writer.take() {
            old.get_mut().flush()?;
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.path)?;
        self.header.clock = crate::clock::global().pair();
        let mut writer = FileWriter::new(BufWriter::with_capacity(1 << 16, file), &self.header)?;
        for def in &self.definitions {
            writer.write_record(def)?;
        }
        self.writer = Some(writer);
        Ok(())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Sink for BinaryFileSink {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        let bytes = entry.bytes();
        // Kinds 0 (callsite) and 8 (thread name) define what later records refer to.
        if matches!(bytes.first(), Some(0 | 8)) {
            self.definitions.push(bytes.to_vec());
        }
        if self.writer.is_none() {
            self.reopen()?;
        }
        match &mut self.writer {
            Some(w) => w.write_record(bytes),
            None => Ok(()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.writer {
            Some(w) => w.get_mut().flush(),
            None => Ok(()),
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        match &mut self.writer {
            Some(w) => {
                w.get_mut().flush()?;
                w.get_mut().get_ref().sync_data()
            }
            None => Ok(()),
        }
    }

    fn reopen(&mut self) -> io::Result<()> {
        BinaryFileSink::reopen(self)
    }
}

fn program_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default()
}
