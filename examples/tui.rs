//! Drive a full-screen program through key names and the rendered screen:
//! open vim on a scratch file, type, save, quit, and check the file. Uses
//! `vi` when it is installed, else says so and exits 2.
//!
//! Run with: `cargo run --example tui`

use std::time::Duration;

use bgterm::{Pattern, SessionBuilder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if !on_path("vi") {
        eprintln!("vi is not installed; nothing to drive");
        std::process::exit(2);
    }
    let t = Some(Duration::from_secs(10));
    let file = std::env::temp_dir().join(format!("bgterm-tui-{}.txt", std::process::id()));
    let vi = SessionBuilder::new(["vi", "-u", "NONE", "-N", "-n", "-i", "NONE"])
        .shell(false)
        .size(12, 60)
        .spawn()?;
    // A full-screen program: wait on what the screen shows, not on bytes.
    vi.wait_for_screen(Pattern::regex("^~")?, t)?;
    vi.send_keys(
        ["i", "hello from bgterm", "Enter", "second line", "Escape"],
        Duration::ZERO,
    )?;
    vi.wait_for_screen("second line", t)?;
    let info = vi.info()?;
    println!(
        "screen {}x{}, alternate: {}, cursor at {:?}",
        info.size.0, info.size.1, info.alternate_screen, info.cursor
    );
    let top = info.history_lines; // the screen's first row
    for line in vi.capture_range(top, top + 3)?.lines {
        println!("| {line}");
    }
    vi.send_keys(
        [":w ", file.to_str().unwrap_or("bgterm-tui.txt"), "Enter"],
        Duration::ZERO,
    )?;
    vi.wait_for_screen("written", t)?;
    vi.send_keys([":q", "Enter"], Duration::ZERO)?;
    let status = vi.wait(t)?;
    let saved = std::fs::read_to_string(&file)?;
    std::fs::remove_file(&file)?;
    println!("vi ended with {status:?}; the file holds {saved:?}");
    assert_eq!(saved, "hello from bgterm\nsecond line\n");
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}
