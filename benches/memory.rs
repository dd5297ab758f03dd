//! Peak memory of `glance analyze` from the smallest frame to the largest one accepted
//! (`MAX_FRAME_SIDE`, `MAX_FRAME_PIXELS`), and one just past the limit: the peak resident set of
//! each run, measured by the kernel (`wait4`'s `ru_maxrss`), against a stated bound.
//! `cargo bench --bench memory` (about two minutes; writes its pictures under target/memory-bench).
//!
//! Each picture is the test astronaut tiled over the frame (faces everywhere, so the detectors,
//! the confirmation and the per-face networks all run), analysed with the default options and
//! with the finest scan a user may ask for (`minFaceHeight` 8).

use std::path::{Path, PathBuf};
use std::process::Command;

use glance::frame::{MAX_FRAME_PIXELS, MAX_FRAME_SIDE};

/// What any accepted frame may cost, options included: the bound this benchmark checks.
const PEAK_RSS_BOUND_MB: f64 = 1536.0;

/// Set in the environment of the child that draws one picture (see [`draw_in_a_child`]).
const DRAW_PICTURE: &str = "GLANCE_MEMORY_BENCH_DRAW";

fn main() {
    if let Ok(job) = std::env::var(DRAW_PICTURE) {
        let (size, out) = job.split_once(' ').expect("WxH PATH");
        let (width, height) = size.split_once('x').expect("WxH");
        tiled_astronauts(
            width.parse().unwrap(),
            height.parse().unwrap(),
            Path::new(out),
        );
        return;
    }
    let dir = PathBuf::from("target/memory-bench");
    std::fs::create_dir_all(&dir).expect("bench folder");
    let finest = dir.join("finest.json");
    std::fs::write(&finest, r#"{"minFaceHeight": 8}"#).expect("options file");
    let largest_wide = (
        MAX_FRAME_SIDE,
        (MAX_FRAME_PIXELS / MAX_FRAME_SIDE as u64) as u32,
    );
    let sizes = [
        (1, 1),
        (16, 1),
        (64, 48),
        (640, 480),
        (1280, 720),
        (1920, 1080),
        (3840, 2160),
        (7680, 4320),
        largest_wide,
        (largest_wide.1, largest_wide.0),
        // Just past the limit: refused from its header.
        (largest_wide.0, largest_wide.1 + 1),
    ];
    println!(
        "{:>13} {:>9} {:>12} {:>10} {:>8}",
        "frame", "options", "peak RSS MB", "time s", "result"
    );
    let mut worst: f64 = 0.0;
    for (width, height) in sizes {
        let picture = dir.join(format!("{width}x{height}.jpg"));
        if !picture.exists() {
            draw_in_a_child(width, height, &picture);
        }
        for (label, options) in [("default", None), ("finest", Some(&finest))] {
            let run = analyse(&picture, options);
            worst = worst.max(run.peak_rss_mb);
            println!(
                "{:>13} {:>9} {:>12.0} {:>10.1} {:>8}",
                format!("{width}x{height}"),
                label,
                run.peak_rss_mb,
                run.seconds,
                run.result
            );
        }
    }
    println!("worst peak RSS {worst:.0} MB (bound {PEAK_RSS_BOUND_MB:.0} MB)");
    assert!(
        worst <= PEAK_RSS_BOUND_MB,
        "peak RSS {worst:.0} MB is over the stated bound of {PEAK_RSS_BOUND_MB:.0} MB"
    );
}

/// Draws a picture in a child process: the kernel counts the peak memory of the process a child
/// was started from into the child's own (exec keeps the high-water mark), so this process must
/// never hold a large picture itself.
fn draw_in_a_child(width: u32, height: u32, out: &Path) {
    let status = Command::new(std::env::current_exe().expect("this bench"))
        .env(DRAW_PICTURE, format!("{width}x{height} {}", out.display()))
        .status()
        .expect("start the drawing child");
    assert!(status.success(), "drawing {width}x{height} failed");
}

/// The astronaut tiled at its own size (scaled down to fit a smaller frame), as a JPEG.
fn tiled_astronauts(width: u32, height: u32, out: &Path) {
    let astronaut = image::open("tests/fixtures/astronaut.jpg")
        .expect("tests/fixtures/astronaut.jpg")
        .into_rgb8();
    let side = astronaut.width().min(width).min(height).max(1);
    let tile = image::imageops::resize(
        &astronaut,
        side,
        side * astronaut.height() / astronaut.width(),
        image::imageops::FilterType::Triangle,
    );
    let mut canvas = image::RgbImage::new(width, height);
    for y in (0..height).step_by(tile.height().max(1) as usize) {
        for x in (0..width).step_by(tile.width() as usize) {
            image::imageops::replace(&mut canvas, &tile, x.into(), y.into());
        }
    }
    canvas.save(out).expect("write the picture");
}

struct Run {
    peak_rss_mb: f64,
    seconds: f64,
    result: String,
}

/// Runs `glance analyze` on one picture and reads the child's peak resident set from the kernel.
fn analyse(picture: &Path, options: Option<&PathBuf>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_glance"));
    command.arg("analyze");
    if let Some(options) = options {
        command.arg("--options").arg(options);
    }
    let started = std::time::Instant::now();
    let child = command
        .arg(picture)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start glance");
    let pid = child.id() as libc::pid_t;
    // Read the output first (a full pipe would block the child), then reap it with wait4 for
    // its rusage; `child` is not waited on again.
    let mut stdout = String::new();
    let mut stderr = String::new();
    {
        use std::io::Read;
        let mut child = child;
        child
            .stdout
            .take()
            .expect("piped")
            .read_to_string(&mut stdout)
            .expect("stdout");
        child
            .stderr
            .take()
            .expect("piped")
            .read_to_string(&mut stderr)
            .expect("stderr");
        std::mem::forget(child);
    }
    let mut status = 0;
    // SAFETY: `rusage` is plain integers, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a plain system call on our own child; the kernel writes `status` and `usage`.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4");
    let faces = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["faces"].as_array().map_or(0, Vec::len))
        .sum::<usize>();
    let exit = libc::WEXITSTATUS(status);
    let result = if exit == 0 {
        format!("{faces} faces")
    } else if stderr.contains("at most") {
        "refused".to_string()
    } else {
        panic!("glance analyze {} failed: {stderr}", picture.display());
    };
    Run {
        // ru_maxrss is in KiB on Linux.
        peak_rss_mb: usage.ru_maxrss as f64 / 1024.0,
        seconds: started.elapsed().as_secs_f64(),
        result,
    }
}
