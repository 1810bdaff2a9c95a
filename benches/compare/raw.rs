//! The baseline: a PTY driven with nothing but libc, as a hand-written
//! program at the physical limit would do it. `openpty`, then the child is
//! started with `setsid` + `TIOCSCTTY` (fork and exec, like bgterm), and the
//! master is read and written with plain blocking calls.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::cleanup::{self, Slot};

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Opens a 24×80 PTY pair; both ends close-on-exec.
pub fn openpty() -> io::Result<(OwnedFd, OwnedFd)> {
    let (mut m, mut s) = (0, 0);
    let ws = libc::winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: valid out-pointers; null name and termios mean "defaults".
    check(unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) })?;
    // SAFETY: openpty returned two new descriptors that we now own.
    let (m, s) = unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
    for fd in [&m, &s] {
        // SAFETY: F_SETFD on a valid descriptor.
        check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
    }
    Ok((m, s))
}

/// A child on a raw PTY. Dropping it kills its process group and reaps it.
#[derive(Debug)]
pub struct RawPty {
    pub master: OwnedFd,
    pid: libc::pid_t,
    reaped: bool,
    slot: Slot,
}

/// Starts `argv` on a new PTY as a session leader with the PTY as its
/// controlling terminal.
pub fn spawn(argv: &[&str]) -> io::Result<RawPty> {
    let (master, slave) = openpty()?;
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 || libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    // The Command holds the parent's slave copies: close them now, so the
    // master reports EOF once the child is gone.
    drop(cmd);
    let pid = child.id() as libc::pid_t;
    Ok(RawPty {
        master,
        pid,
        reaped: false,
        slot: cleanup::register(pid),
    })
}

impl RawPty {
    /// Reads until the PTY reports end of output (EIO once the child's
    /// side is closed); returns the byte count.
    pub fn read_to_end(&self, buf: &mut [u8]) -> io::Result<u64> {
        let mut total = 0u64;
        loop {
            // SAFETY: `buf` is valid for `buf.len()` bytes.
            let n = unsafe { libc::read(self.master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            match n {
                n if n > 0 => total += n as u64,
                0 => return Ok(total),
                _ => {
                    let e = io::Error::last_os_error();
                    match e.raw_os_error() {
                        Some(libc::EINTR) => {}
                        Some(libc::EIO) => return Ok(total),
                        _ => return Err(e),
                    }
                }
            }
        }
    }

    /// Reads until `marker` has been seen (blocking).
    pub fn read_until(&self, marker: &[u8]) -> io::Result<()> {
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        while !seen.windows(marker.len()).any(|w| w == marker) {
            let n = self.read_some(&mut buf)?;
            if n == 0 {
                return Err(io::Error::other("PTY closed before the marker"));
            }
            seen.extend_from_slice(&buf[..n]);
        }
        Ok(())
    }

    /// One blocking read (0 = end of output).
    pub fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: `buf` is valid for `buf.len()` bytes.
            let n = unsafe { libc::read(self.master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EIO) => return Ok(0),
                _ => return Err(e),
            }
        }
    }

    /// Writes all of `data` (blocking).
    pub fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            // SAFETY: `data` is valid for `data.len()` bytes.
            let n = unsafe { libc::write(self.master.as_raw_fd(), data.as_ptr().cast(), data.len()) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(e);
            }
            data = &data[n as usize..];
        }
        Ok(())
    }

    /// Waits for the child and reaps it; returns its raw wait status.
    pub fn reap(&mut self) -> io::Result<libc::c_int> {
        self.slot.release();
        let mut status = 0;
        loop {
            // SAFETY: valid out-pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if r == self.pid {
                self.reaped = true;
                return Ok(status);
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
    }
}

impl Drop for RawPty {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: the child is unreaped, so its pid still names its group.
            unsafe { libc::killpg(self.pid, libc::SIGKILL) };
            let _ = self.reap();
        }
    }
}
