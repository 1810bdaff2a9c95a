//! Chooses the backend: `cfg(bgterm_portable)` when the `portable-backend`
//! feature is on, and always on a unix other than Linux (the native
//! backend is Linux-only). See src/sys/portable/mod.rs.

//!
//! `cfg(bgterm_select)`: the reactor waits in `select(2)` and wakes through
//! pipes, as it must where there is no epoll or eventfd (every unix but
//! Linux). On Linux, `BGTERM_SELECT=1` with the `portable-backend` feature
//! turns it on too, so that the code the other systems run is tested here
//! (`.ci/run` does).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(bgterm_portable)");
    println!("cargo::rustc-check-cfg=cfg(bgterm_select)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let feature = std::env::var_os("CARGO_FEATURE_PORTABLE_BACKEND").is_some();
    let select = std::env::var("BGTERM_SELECT").is_ok_and(|v| v == "1");
    if feature || os != "linux" {
        println!("cargo::rustc-cfg=bgterm_portable");
    }
    if os != "linux" || (feature && select) {
        println!("cargo::rustc-cfg=bgterm_select");
    }
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=BGTERM_SELECT");
}
