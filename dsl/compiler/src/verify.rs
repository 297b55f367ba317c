//! Step 8, verify: every program goes through gw-program's verifier before the image is
//! returned. A rejection is a compiler bug, reported as E0999 rather than served.

use gw_program::ConfigImage;
use gw_syntax::{Diagnostic, Span};

use crate::routes::RouteInfo;

/// Runs the verifier over the whole image; returns E0999 diagnostics for what it rejects.
pub(crate) fn image(img: &ConfigImage, infos: &[RouteInfo<'_>]) -> Vec<Diagnostic> {
    match gw_program::verify_image(img) {
        Ok(()) => Vec::new(),
        Err(e) => {
            let span = infos
                .iter()
                .find(|i| format!("route {}", i.name) == e.program)
                .map_or(Span::default(), RouteInfo::header);
            vec![
                Diagnostic::error(
                    "E0999",
                    span,
                    format!("internal: the compiled program failed verification: {e}"),
                )
                .with_label("while compiling this")
                .with_note("this is a bug in gw's compiler; please report it with this file"),
            ]
        }
    }
}
