//! gw-bench: criterion benches (benches/) and the side-by-side proxy benchmark (bench/run.sh).
