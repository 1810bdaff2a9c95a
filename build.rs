//! Chooses the backend: `cfg(bgterm_portable)` when the `portable-backend`
//! feature is on, and always on a unix other than Linux (the native
//! backend is Linux-only). See src/sys/portable/mod.rs.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(bgterm_portable)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let feature = std::env::var_os("CARGO_FEATURE_PORTABLE_BACKEND").is_some();
    if feature || os != "linux" {
        println!("cargo::rustc-cfg=bgterm_portable");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
