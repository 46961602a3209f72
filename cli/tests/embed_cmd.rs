//! `autonoma embed` end to end: the real binary, the real model, the wgpu path (lavapipe
//! on CPU-only machines). Needs the model files from `bash scripts/setup.sh`.

use std::io::Write;
use std::process::{Command, Stdio};

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>()
}

#[test]
fn embeds_stdin_lines_as_json_arrays() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_autonoma"))
        .arg("embed")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn autonoma embed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all("A man is eating food.\nA man is eating a piece of bread.\nThe stock market fell sharply today.\n".as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "autonoma embed failed: {stderr}");
    assert!(
        stderr.contains("adapter: "),
        "adapter reported on stderr: {stderr}"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let vectors: Vec<Vec<f64>> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON array per line"))
        .collect();
    assert_eq!(vectors.len(), 3, "{stdout}");
    for v in &vectors {
        assert_eq!(v.len(), 384);
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "unit norm, got {norm}");
    }
    let similar = cosine(&vectors[0], &vectors[1]);
    let unrelated = cosine(&vectors[0], &vectors[2]);
    assert!(
        similar > unrelated + 0.2,
        "similar {similar} vs unrelated {unrelated}"
    );
}
