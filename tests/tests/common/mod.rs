//! What the golden-file tests (ui.rs, examples.rs) share.

use std::path::{Path, PathBuf};

pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `GW_BLESS=1` rewrites the goldens instead of comparing.
pub fn bless() -> bool {
    std::env::var_os("GW_BLESS").is_some_and(|v| v != "0" && !v.is_empty())
}

/// The `.gw` files directly in `dir`, sorted.
pub fn gw_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "gw"))
        .collect();
    files.sort();
    files
}

pub fn stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .expect("utf-8 file name")
        .to_string()
}
