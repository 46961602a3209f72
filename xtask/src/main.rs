//! Autonoma's build tasks.
//!
//! ```text
//! cargo run -p xtask -- build-site [--release] [--keep-names] [--out-dir DIR] [--target-dir DIR]
//! ```
//!
//! `build-site` produces the web UI's static assets in `<out-dir>/pkg` (default
//! `<workspace>/site/pkg`):
//!
//! 1. builds `autonoma-app` with the `hydrate` feature for `wasm32-unknown-unknown`;
//! 2. runs wasm-bindgen on it (the `wasm-bindgen-cli-support` crate, pinned to the exact
//!    `wasm-bindgen` version of `Cargo.lock`, so no separate CLI install is needed);
//! 3. with `--release`, runs `wasm-opt -Oz` (`$WASM_OPT`, else `wasm-opt` on `PATH`;
//!    `WASM_OPT=off` skips it) when it is binaryen >= 116 — older ones, like Debian
//!    bookworm's 108, corrupt wasm-bindgen's externref table, so they are skipped;
//! 4. copies `style/*.css` next to them;
//! 5. writes content-hashed copies of the JS, wasm and CSS plus `manifest.json`, which
//!    the server (`autonoma_app::router`) reads to emit cache-busting URLs, and a
//!    gzip-compressed `.gz` next to each (served as `Content-Encoding: gzip`).
//!
//! Toolchain: when `rustup target list --installed` lists `wasm32-unknown-unknown`, the
//! normal `cargo` is used. Otherwise (machines where `rustup target add` cannot download)
//! it uses Debian's `/usr/bin/cargo` + `/usr/bin/rustc` (packages `rustc-web cargo-web
//! rust-web-src`) with `RUSTC_BOOTSTRAP=1` and `-Zbuild-std=std,panic_abort`, linking with
//! `$CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER`, else rustup's `rust-lld`, else lld-19's
//! `wasm-ld-19`.
//!
//! The wasm build has its own target directory (`--target-dir`, else
//! `$AUTONOMA_WASM_TARGET_DIR`, else `${CARGO_TARGET_DIR}-wasm`, else
//! `<workspace>/target/wasm`): it may use a different compiler than host builds, and
//! sharing one directory would make each invalidate the other. Every step is skipped when
//! its inputs did not change, so a second run with nothing changed takes seconds.

use std::collections::BTreeMap;
use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Base name of the generated files (`autonoma.js`, `autonoma_bg.wasm`).
const OUTPUT_NAME: &str = "autonoma";
/// Oldest binaryen whose `wasm-opt` keeps wasm-bindgen's externref table intact
/// (108, Debian bookworm's, breaks hydration; 116, 119 and 132 were verified).
const MIN_BINARYEN: u32 = 116;
/// Bumped when the post-processing below changes, to invalidate old stamps.
const PIPELINE_VERSION: &str = "xtask-build-site-5";

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn usage() -> &'static str {
    "usage: cargo run -p xtask -- build-site [--release] [--keep-names] [--out-dir DIR] [--target-dir DIR]\n\n\
     Builds the hydrate wasm of autonoma-app, runs wasm-bindgen (and wasm-opt -Oz with\n\
     --release), and copies style/*.css into <out-dir>/pkg (default <workspace>/site).\n\
     --keep-names keeps wasm function names for readable browser stack traces."
}

fn run() -> Result<()> {
    let mut args = env::args().skip(1);
    let Some(task) = args.next() else {
        println!("{}", usage());
        return Ok(());
    };
    match task.as_str() {
        "build-site" => {
            let mut opts = SiteOptions {
                release: false,
                keep_names: false,
                out_dir: None,
                target_dir: None,
            };
            while let Some(a) = args.next() {
                match a.as_str() {
                    "--release" | "-r" => opts.release = true,
                    "--keep-names" => opts.keep_names = true,
                    "--out-dir" => {
                        opts.out_dir = Some(PathBuf::from(
                            args.next().context("--out-dir needs a value")?,
                        ))
                    }
                    "--target-dir" => {
                        opts.target_dir = Some(PathBuf::from(
                            args.next().context("--target-dir needs a value")?,
                        ))
                    }
                    "-h" | "--help" => {
                        println!("{}", usage());
                        return Ok(());
                    }
                    other => bail!("unknown argument '{other}'\n\n{}", usage()),
                }
            }
            build_site(&opts)
        }
        "-h" | "--help" | "help" => {
            println!("{}", usage());
            Ok(())
        }
        other => bail!("unknown task '{other}'\n\n{}", usage()),
    }
}

struct SiteOptions {
    release: bool,
    /// Keep the wasm `name` section (function names in browser stack traces; tens of MB
    /// in debug builds).
    keep_names: bool,
    out_dir: Option<PathBuf>,
    target_dir: Option<PathBuf>,
}

/// The workspace root: the parent of xtask's manifest directory (from the environment
/// `cargo run` sets, so a binary shared between checkouts through one target directory
/// still builds the checkout it was run from).
fn workspace_root() -> PathBuf {
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn build_site(opts: &SiteOptions) -> Result<()> {
    let started = Instant::now();
    let root = workspace_root();
    let out_dir = opts.out_dir.clone().unwrap_or_else(|| root.join("site"));
    let out_dir = if out_dir.is_absolute() {
        out_dir
    } else {
        env::current_dir()?.join(out_dir)
    };
    let pkg_dir = out_dir.join("pkg");
    fs::create_dir_all(&pkg_dir).with_context(|| format!("creating {}", pkg_dir.display()))?;
    let target_dir = opts
        .target_dir
        .clone()
        .or_else(|| env::var_os("AUTONOMA_WASM_TARGET_DIR").map(PathBuf::from))
        .or_else(|| {
            env::var_os("CARGO_TARGET_DIR")
                .map(|d| PathBuf::from(format!("{}-wasm", PathBuf::from(d).display())))
        })
        .unwrap_or_else(|| root.join("target").join("wasm"));

    // 1. cargo build (incremental by itself)
    let toolchain = Toolchain::detect()?;
    let profile = if opts.release { "wasm-release" } else { "dev" };
    let mut cmd = toolchain.cargo_command();
    cmd.current_dir(&root)
        .args([
            "build",
            "--lib",
            "-p",
            "autonoma-app",
            "--target",
            WASM_TARGET,
            "--no-default-features",
            "--features",
            "hydrate",
        ])
        .arg("--profile")
        .arg(profile)
        .arg("--target-dir")
        .arg(&target_dir);
    if toolchain.build_std {
        cmd.arg("-Zbuild-std=std,panic_abort");
    }
    eprintln!(
        "[build-site] {} ({})",
        toolchain.describe(),
        if opts.release { "release" } else { "debug" }
    );
    let t = Instant::now();
    let status = cmd.status().context("running cargo for the wasm build")?;
    if !status.success() {
        bail!("the wasm build of autonoma-app failed ({status})");
    }
    eprintln!("[build-site] cargo: {:.1}s", t.elapsed().as_secs_f64());
    let profile_dir = if opts.release {
        "wasm-release"
    } else {
        "debug"
    };
    let wasm_in = target_dir
        .join(WASM_TARGET)
        .join(profile_dir)
        .join("autonoma_app.wasm");
    let wasm_bytes =
        fs::read(&wasm_in).with_context(|| format!("reading {}", wasm_in.display()))?;

    // 2./3. wasm-bindgen and wasm-opt, skipped when the wasm did not change
    let stamp_path = pkg_dir.join(".wasm-stamp");
    let optimizer = if opts.release { find_wasm_opt() } else { None };
    let stamp = format!(
        "{PIPELINE_VERSION} release={} names={} opt={} wasm={}",
        opts.release,
        opts.keep_names,
        optimizer
            .as_ref()
            .map(|(bin, v)| format!("{bin}@{v}"))
            .unwrap_or_else(|| "none".into()),
        hash_hex(&wasm_bytes)
    );
    let js_out = pkg_dir.join(format!("{OUTPUT_NAME}.js"));
    let wasm_out = pkg_dir.join(format!("{OUTPUT_NAME}_bg.wasm"));
    let up_to_date = fs::read_to_string(&stamp_path)
        .map(|s| s == stamp)
        .unwrap_or(false)
        && js_out.exists()
        && wasm_out.exists();
    if up_to_date {
        eprintln!("[build-site] wasm unchanged; wasm-bindgen skipped");
    } else {
        let t = Instant::now();
        let staging = out_dir.join(".staging");
        let _ = fs::remove_dir_all(&staging);
        wasm_bindgen_cli_support::Bindgen::new()
            .input_path(&wasm_in)
            .out_name(OUTPUT_NAME)
            .web(true)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?
            .typescript(false)
            .debug(!opts.release)
            .remove_name_section(!opts.keep_names)
            .remove_producers_section(opts.release)
            .generate(&staging)
            .map_err(|e| anyhow::anyhow!("wasm-bindgen: {e:#}"))?;
        eprintln!(
            "[build-site] wasm-bindgen: {:.1}s",
            t.elapsed().as_secs_f64()
        );
        let staged_wasm = staging.join(format!("{OUTPUT_NAME}_bg.wasm"));
        if let Some((bin, _)) = &optimizer {
            wasm_opt(bin, &staged_wasm)?;
        }
        // Move into place: snippets first, then the wasm, then the JS that loads it.
        let snippets = staging.join("snippets");
        if snippets.exists() {
            let dest = pkg_dir.join("snippets");
            let _ = fs::remove_dir_all(&dest);
            fs::rename(&snippets, &dest)?;
        }
        fs::rename(&staged_wasm, &wasm_out)?;
        fs::rename(staging.join(format!("{OUTPUT_NAME}.js")), &js_out)?;
        let _ = fs::remove_dir_all(&staging);
        fs::write(&stamp_path, &stamp)?;
    }

    // 4. stylesheets
    let mut css_files = Vec::new();
    let style_dir = root.join("style");
    if style_dir.is_dir() {
        for entry in fs::read_dir(&style_dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "css") {
                css_files.push(path);
            }
        }
    }
    css_files.sort();
    for css in &css_files {
        let dest = pkg_dir.join(css.file_name().unwrap());
        write_if_changed(&dest, &fs::read(css)?)?;
    }

    // 5. hashed copies and the manifest
    let mut manifest = BTreeMap::new();
    let mut keep = vec!["manifest.json".to_string()];
    for (key, file) in [
        ("js", format!("{OUTPUT_NAME}.js")),
        ("wasm", format!("{OUTPUT_NAME}_bg.wasm")),
        ("css", format!("{OUTPUT_NAME}.css")),
    ] {
        let src = pkg_dir.join(&file);
        if !src.exists() {
            continue;
        }
        let bytes = fs::read(&src)?;
        let (stem, ext) = file.rsplit_once('.').unwrap();
        let hashed = format!("{stem}.{}.{ext}", &hash_hex(&bytes)[..16]);
        write_if_changed(&pkg_dir.join(&hashed), &bytes)?;
        keep.push(hashed.clone());
        manifest.insert(key, hashed);
    }
    // Remove hashed files of earlier builds.
    for entry in fs::read_dir(&pkg_dir)? {
        let name = entry?.file_name().to_string_lossy().to_string();
        if is_hashed_name(&name) && !keep.contains(&name) {
            let _ = fs::remove_file(pkg_dir.join(&name));
        }
    }
    let manifest_json = format!(
        "{{\n{}\n}}\n",
        manifest
            .iter()
            .map(|(k, v)| format!("  \"{k}\": \"{v}\""))
            .collect::<Vec<_>>()
            .join(",\n")
    );
    write_if_changed(&pkg_dir.join("manifest.json"), manifest_json.as_bytes())?;

    // 6. precompressed copies, refreshed when older than their source
    for entry in fs::read_dir(&pkg_dir)? {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if matches!(ext, "js" | "wasm" | "css") {
            gzip_if_stale(&path)?;
        }
    }
    for entry in fs::read_dir(&pkg_dir)? {
        let path = entry?.path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if let Some(src) = name.strip_suffix(".gz") {
            if !pkg_dir.join(src).exists() {
                let _ = fs::remove_file(&path);
            }
        }
    }

    let size = fs::metadata(&wasm_out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "[build-site] done in {:.1}s: {} (wasm {:.0} KiB)",
        started.elapsed().as_secs_f64(),
        pkg_dir.display(),
        size as f64 / 1024.0
    );
    Ok(())
}

/// `name.<16 hex>.ext`, as written by step 5.
fn is_hashed_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() == 3 && parts[1].len() == 16 && parts[1].chars().all(|c| c.is_ascii_hexdigit())
}

fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if fs::read(path).map(|old| old == bytes).unwrap_or(false) {
        return Ok(());
    }
    let tmp = path.with_extension("tmp~");
    fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path)?;
    Ok(())
}

/// Writes `<file>.gz` unless it is newer than `file`.
fn gzip_if_stale(file: &Path) -> Result<()> {
    use std::io::Write;
    let gz = PathBuf::from(format!("{}.gz", file.display()));
    let src_time = fs::metadata(file)?.modified()?;
    if fs::metadata(&gz)
        .and_then(|m| m.modified())
        .map(|t| t >= src_time)
        .unwrap_or(false)
    {
        return Ok(());
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&fs::read(file)?)?;
    let tmp = gz.with_extension("gz.tmp~");
    fs::write(&tmp, enc.finish()?)?;
    fs::rename(&tmp, &gz)?;
    Ok(())
}

/// 64-bit FNV-1a, as hex: stable across runs and platforms (unlike `DefaultHasher`).
fn hash_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The `wasm-opt` to use for release builds: `(binary, binaryen version)`, or `None`
/// (with the reason printed) when there is no usable one.
fn find_wasm_opt() -> Option<(String, u32)> {
    let bin = env::var("WASM_OPT").unwrap_or_else(|_| "wasm-opt".into());
    if bin == "off" || bin == "0" {
        eprintln!("[build-site] WASM_OPT=off; skipping wasm-opt");
        return None;
    }
    let Ok(out) = Command::new(&bin).arg("--version").output() else {
        eprintln!("[build-site] wasm-opt not found (binaryen >= {MIN_BINARYEN}: `npm install -g binaryen`, or WASM_OPT=/path/to/wasm-opt); skipping -Oz");
        return None;
    };
    if !out.status.success() {
        eprintln!("[build-site] {bin} does not run; skipping -Oz");
        return None;
    }
    // "wasm-opt version 116 (version_116)"
    let version = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    if version < MIN_BINARYEN {
        eprintln!(
            "[build-site] {bin} is binaryen {version}; versions before {MIN_BINARYEN} corrupt wasm-bindgen's externref table \
             (Debian bookworm ships 108). Skipping -Oz; for a smaller wasm install a newer binaryen \
             (`npm install -g binaryen`) or point WASM_OPT at one."
        );
        return None;
    }
    Some((bin, version))
}

/// Runs `wasm-opt -Oz` in place; keeps the input if it fails.
fn wasm_opt(bin: &str, wasm: &Path) -> Result<()> {
    let t = Instant::now();
    let optimized = wasm.with_extension("opt.wasm");
    let status = Command::new(bin)
        .arg("-Oz")
        // Features rustc enables by default for wasm32-unknown-unknown.
        .args([
            "--enable-bulk-memory",
            "--enable-mutable-globals",
            "--enable-nontrapping-float-to-int",
            "--enable-sign-ext",
            "--enable-reference-types",
            "--enable-multivalue",
        ])
        .arg(wasm)
        .arg("-o")
        .arg(&optimized)
        .status()?;
    if status.success() {
        let before = fs::metadata(wasm)?.len();
        fs::rename(&optimized, wasm)?;
        let after = fs::metadata(wasm)?.len();
        eprintln!(
            "[build-site] wasm-opt -Oz: {:.0} KiB -> {:.0} KiB in {:.1}s",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            t.elapsed().as_secs_f64()
        );
    } else {
        let _ = fs::remove_file(&optimized);
        eprintln!("[build-site] wasm-opt failed ({status}); keeping the unoptimized wasm");
    }
    Ok(())
}

/// How to compile for wasm32 on this machine.
struct Toolchain {
    cargo: OsString,
    rustc: Option<OsString>,
    build_std: bool,
    linker: Option<PathBuf>,
}

impl Toolchain {
    fn detect() -> Result<Self> {
        let rustup_has_target = Command::new("rustup")
            .args(["target", "list", "--installed"])
            .stderr(Stdio::null())
            .output()
            .map(|o| {
                o.status.success()
                    && String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .any(|l| l.trim() == WASM_TARGET)
            })
            .unwrap_or(false);
        if rustup_has_target {
            return Ok(Toolchain {
                cargo: env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
                rustc: None,
                build_std: false,
                linker: None,
            });
        }
        let cargo = PathBuf::from("/usr/bin/cargo");
        let rustc = PathBuf::from("/usr/bin/rustc");
        if !cargo.exists() || !rustc.exists() {
            bail!(
                "no wasm32 toolchain: `rustup target add {WASM_TARGET}` (where it can download), or on Debian \
                 `apt-get install rustc-web cargo-web rust-web-src` to build std from source"
            );
        }
        let linker = match env::var_os("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER") {
            Some(l) => Some(PathBuf::from(l)),
            None => find_linker(),
        };
        if linker.is_none() {
            bail!("no wasm linker: install rustup's stable toolchain (it ships rust-lld) or `apt-get install lld-19`");
        }
        Ok(Toolchain {
            cargo: cargo.into(),
            rustc: Some(rustc.into()),
            build_std: true,
            linker,
        })
    }

    fn describe(&self) -> String {
        if self.build_std {
            format!(
                "building with {} + -Zbuild-std (linker {})",
                Path::new(&self.cargo).display(),
                self.linker
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            )
        } else {
            format!(
                "building with {} (rustup target {WASM_TARGET})",
                Path::new(&self.cargo).display()
            )
        }
    }

    fn cargo_command(&self) -> Command {
        let mut cmd = Command::new(&self.cargo);
        // `cargo run -p xtask` exports these for the host toolchain; they must not leak
        // into a build driven by another toolchain.
        for var in [
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_PKG_NAME",
        ] {
            cmd.env_remove(var);
        }
        if let Some(rustc) = &self.rustc {
            cmd.env("RUSTC", rustc);
            cmd.env("RUSTC_BOOTSTRAP", "1");
            for var in [
                "RUSTUP_TOOLCHAIN",
                "RUSTDOC",
                "RUSTC_WRAPPER",
                "RUSTC_WORKSPACE_WRAPPER",
            ] {
                cmd.env_remove(var);
            }
        }
        if let Some(linker) = &self.linker {
            cmd.env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", linker);
        }
        cmd
    }
}

/// rustup's `rust-lld` (works for wasm), else lld-19's `wasm-ld`.
fn find_linker() -> Option<PathBuf> {
    if let Ok(out) = Command::new("rustup")
        .args(["run", "stable", "rustc", "--print", "sysroot"])
        .stderr(Stdio::null())
        .output()
    {
        if out.status.success() {
            let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            let host = Command::new("rustup")
                .args(["run", "stable", "rustc", "-vV"])
                .output()
                .ok()
                .and_then(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
                })
                .unwrap_or_else(|| "x86_64-unknown-linux-gnu".into());
            let lld = sysroot.join("lib/rustlib").join(host).join("bin/rust-lld");
            if lld.exists() {
                return Some(lld);
            }
        }
    }
    [
        "/usr/bin/wasm-ld-19",
        "/usr/lib/llvm-19/bin/wasm-ld",
        "/usr/lib/llvm-19/bin/rust-lld",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names() {
        assert!(is_hashed_name("autonoma.0123456789abcdef.js"));
        assert!(!is_hashed_name("autonoma.js"));
        assert!(!is_hashed_name("autonoma_bg.wasm"));
        assert_eq!(hash_hex(b""), "cbf29ce484222325");
    }
}
