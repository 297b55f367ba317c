//! Reading files and expanding `include`: size (E0105) and UTF-8 (E0104) checks before
//! parsing, missing files (E0701), cycles and depth (E0703).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::ast::{Item, ItemKind, StrLit};
use crate::diag::Diagnostic;
use crate::parse::{file_start, parse_text};
use crate::span::{FileId, SourceFile, SourceMap, Span};

/// Largest file accepted (E0105 beyond): 16 MiB.
pub const MAX_FILE_SIZE: usize = 16 * 1024 * 1024;
/// Deepest `include` chain accepted (E0703 beyond).
pub const MAX_INCLUDE_DEPTH: usize = 16;

enum ReadError {
    /// The file's size in bytes (at least the limit + 1).
    TooLarge(u64),
    Io(String),
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// `a/b/../c` as `a/c` (only for names and paths shown to the user).
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir if !out.is_empty() => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            _ => out.push(c),
        }
    }
    out.iter().collect()
}

/// Reads a regular file of at most [`MAX_FILE_SIZE`] bytes. Never reads devices or FIFOs,
/// which could block or never end.
fn read_limited(path: &Path) -> Result<Vec<u8>, ReadError> {
    let meta = std::fs::metadata(path).map_err(|e| ReadError::Io(io_reason(&e)))?;
    if !meta.is_file() {
        return Err(ReadError::Io("not a regular file".into()));
    }
    if meta.len() > MAX_FILE_SIZE as u64 {
        return Err(ReadError::TooLarge(meta.len()));
    }
    let f = std::fs::File::open(path).map_err(|e| ReadError::Io(io_reason(&e)))?;
    let mut bytes = Vec::new();
    f.take(MAX_FILE_SIZE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::Io(io_reason(&e)))?;
    if bytes.len() > MAX_FILE_SIZE {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

fn too_large(span: Span, name: &str, size: u64) -> Diagnostic {
    Diagnostic::error(
        "E0105",
        span,
        format!("`{name}` is too large: {size} bytes, the limit is 16 MiB ({MAX_FILE_SIZE} bytes)"),
    )
    .with_label("larger than 16 MiB")
    .with_note("gw refuses files over 16 MiB before parsing them; split the file with `include`")
}

/// Loads a configuration: the root file and everything it includes.
pub(crate) struct Loader {
    pub sources: SourceMap,
    pub diags: Vec<Diagnostic>,
    /// Directory relative includes resolve against, per file.
    dirs: Vec<PathBuf>,
    /// Canonical paths of the files being expanded (cycle detection).
    stack: Vec<PathBuf>,
    /// Names of the files on `stack`, for the cycle note.
    names: Vec<String>,
    /// False for `gw fmt` and fuzzing: includes are kept, not read.
    expand: bool,
}

impl Loader {
    pub(crate) fn new(expand: bool) -> Self {
        Loader {
            sources: SourceMap::default(),
            diags: Vec::new(),
            dirs: Vec::new(),
            stack: Vec::new(),
            names: Vec::new(),
            expand,
        }
    }

    fn add(&mut self, file: SourceFile, dir: PathBuf) -> FileId {
        self.dirs.push(dir);
        self.sources.add(file)
    }

    /// An empty source for a file that could not be loaded, so diagnostics can name it.
    fn placeholder(&mut self, name: &str, path: &Path) -> FileId {
        self.add(
            SourceFile::new(name.to_string(), path.to_path_buf(), String::new(), None),
            PathBuf::new(),
        )
    }

    /// The root file at `path`.
    pub(crate) fn root_file(&mut self, path: &Path) -> Vec<Item> {
        let name = path.display().to_string();
        match read_limited(path) {
            Ok(bytes) => {
                if let Ok(canon) = std::fs::canonicalize(path) {
                    self.stack.push(canon);
                    self.names.push(name.clone());
                }
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                self.load_bytes(&name, path, bytes, dir, None, 0)
            }
            Err(ReadError::TooLarge(size)) => {
                let id = self.placeholder(&name, path);
                self.diags.push(too_large(file_start(id), &name, size));
                Vec::new()
            }
            Err(ReadError::Io(e)) => {
                let id = self.placeholder(&name, path);
                let d = Diagnostic::error(
                    "E0701",
                    file_start(id),
                    format!("cannot read `{name}`: {e}"),
                );
                self.diags.push(d);
                Vec::new()
            }
        }
    }

    /// A root given as bytes (includes resolve against the current directory).
    pub(crate) fn root_bytes(&mut self, name: &str, bytes: &[u8]) -> Vec<Item> {
        if bytes.len() > MAX_FILE_SIZE {
            let id = self.placeholder(name, Path::new(name));
            self.diags
                .push(too_large(file_start(id), name, bytes.len() as u64));
            return Vec::new();
        }
        self.load_bytes(
            name,
            Path::new(name),
            bytes.to_vec(),
            PathBuf::new(),
            None,
            0,
        )
    }

    fn load_bytes(
        &mut self,
        name: &str,
        path: &Path,
        bytes: Vec<u8>,
        dir: PathBuf,
        from: Option<Span>,
        depth: usize,
    ) -> Vec<Item> {
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
                let id = self.add(
                    SourceFile::new(name.to_string(), path.to_path_buf(), lossy, from),
                    dir,
                );
                let span = Span::new(
                    id,
                    crate::prescan::to_u32(at),
                    crate::prescan::to_u32(at + 1),
                );
                let d = Diagnostic::error("E0104", span, format!("`{name}` is not valid UTF-8"))
                    .with_label(format!("invalid UTF-8 at byte {at}"))
                    .with_help("save the file as UTF-8");
                self.diags.push(d);
                return Vec::new();
            }
        };
        let id = self.add(
            SourceFile::new(name.to_string(), path.to_path_buf(), text, from),
            dir,
        );
        self.parse_loaded(id, depth)
    }

    fn parse_loaded(&mut self, id: FileId, depth: usize) -> Vec<Item> {
        let syntax = match self.sources.get(id) {
            Some(f) => parse_text(&f.text, id),
            None => return Vec::new(),
        };
        self.diags.extend(syntax.diags);
        let mut items = Vec::with_capacity(syntax.items.len());
        for item in syntax.items {
            let included = match (&item.kind, self.expand) {
                (ItemKind::Include(s), true) => self.include(s, id, depth),
                _ => Vec::new(),
            };
            items.push(item);
            items.extend(included);
        }
        items
    }

    fn include(&mut self, s: &StrLit, from: FileId, depth: usize) -> Vec<Item> {
        let Some(rel) = s.as_plain() else {
            let d = Diagnostic::error("E0701", s.span, "an include path cannot interpolate")
                .with_label("write a fixed path");
            self.diags.push(d);
            return Vec::new();
        };
        if depth + 1 > MAX_INCLUDE_DEPTH {
            let d = Diagnostic::error(
                "E0703",
                s.span,
                format!("includes nest deeper than {MAX_INCLUDE_DEPTH}"),
            )
            .with_label(format!(
                "`{rel}` would be include number {} in a chain",
                depth + 1
            ))
            .with_help("include files from the root file instead of from each other");
            self.diags.push(d);
            return Vec::new();
        }
        let dir = self.dirs.get(from.0 as usize).cloned().unwrap_or_default();
        let joined = dir.join(&rel);
        let canon = match std::fs::canonicalize(&joined) {
            Ok(c) => c,
            Err(e) => {
                let name = tidy(&joined).display().to_string();
                let d = Diagnostic::error(
                    "E0701",
                    s.span,
                    format!("cannot read included file `{name}`: {}", io_reason(&e)),
                )
                .with_label("included here");
                self.diags.push(d);
                return Vec::new();
            }
        };
        // Show `a/../b` as `b` when that names the same file.
        let tidied = tidy(&joined);
        let full = if std::fs::canonicalize(&tidied).is_ok_and(|c| c == canon) {
            tidied
        } else {
            joined
        };
        let name = full.display().to_string();
        if self.stack.contains(&canon) {
            let mut chain: Vec<String> = self.names.clone();
            chain.push(name.clone());
            let d = Diagnostic::error(
                "E0703",
                s.span,
                format!("include cycle: `{name}` is already being included"),
            )
            .with_label("this include starts the cycle again")
            .with_note(format!("include chain: {}", chain.join(" -> ")));
            self.diags.push(d);
            return Vec::new();
        }
        let bytes = match read_limited(&full) {
            Ok(b) => b,
            Err(ReadError::TooLarge(size)) => {
                self.diags.push(too_large(s.span, &name, size));
                return Vec::new();
            }
            Err(ReadError::Io(e)) => {
                let d = Diagnostic::error(
                    "E0701",
                    s.span,
                    format!("cannot read included file `{name}`: {e}"),
                )
                .with_label("included here");
                self.diags.push(d);
                return Vec::new();
            }
        };
        self.stack.push(canon);
        self.names.push(name.clone());
        let sub_dir = full.parent().map(Path::to_path_buf).unwrap_or_default();
        let items = self.load_bytes(&name, &full, bytes, sub_dir, Some(s.span), depth + 1);
        self.stack.pop();
        self.names.pop();
        items
    }
}
