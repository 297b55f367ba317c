//! gw's log lines on stderr (the function lives in gw-plugin, so plugins log alike).

pub use gw_plugin::log::{line, stamp};

/// Write one log line: `log!("worker {id}: accept: {e}")`.
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log::line(format_args!($($arg)*))
    };
}
pub(crate) use log;
