//! Compile `.gw` files and print their diagnostics and disassembly:
//! `cargo run -p gw-compiler --example gwc -- FILE.gw [--disasm] [--time]`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let disasm = args.iter().any(|a| a == "--disasm");
    let timed = args.iter().any(|a| a == "--time");
    for path in args.iter().filter(|a| !a.starts_with("--")) {
        let t0 = std::time::Instant::now();
        let parsed = gw_syntax::parse_file(std::path::Path::new(path));
        let t1 = std::time::Instant::now();
        let compiled = gw_compiler::compile(&parsed, &gw_compiler::Options::default());
        if timed {
            eprintln!("parse {:?}, compile {:?}", t1 - t0, t1.elapsed());
        }
        let mut diags = parsed.diagnostics.clone();
        diags.extend(compiled.diagnostics);
        println!("== {path}");
        print!("{}", gw_syntax::render_all(&diags, &parsed.sources));
        if let (true, Some(img)) = (disasm, &compiled.image) {
            print!("{}", gw_program::disasm_image(img, None));
        }
    }
}
