//! `yl-hub bench` at a small size, as a person runs it: the institutions of every district but
//! the first run in a worker process, and the figures still add up (every camera at the city,
//! every edit seen on the city's feed, the workers' traffic and CPU counted), and no refusal
//! recorded of the bench's own probes.

use std::process::Command;

#[test]
fn the_bench_spreads_institutions_over_workers_and_reports_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_yl-hub"))
        .args(["bench", "--districts", "2", "--institutions", "2"])
        .args([
            "--cameras",
            "5",
            "--edits",
            "6",
            "--offline-edits",
            "2",
            "--json",
        ])
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["ledgers"], 4);
    assert!(j["cameras"].as_u64().unwrap() > 0);
    assert_eq!(j["feed_latency_ms"]["edits"], 6);
    let mem = &j["peak_memory_mib"];
    assert_eq!(
        mem["bench_workers"], 1,
        "district 1's institutions in one worker"
    );
    assert!(mem["bench_worker_max"].as_f64().unwrap() > 0.0);
    let cold = &j["cold_start"];
    assert!(cold["cpu_seconds_bench_workers"].as_f64().unwrap() > 0.0);
    // Both districts' institutions sent their ledgers: more bytes than district 0's alone.
    assert!(cold["bytes_institutions_districts"].as_u64().unwrap() > 0);
    // The edits made in the worker were counted at the institution level too.
    let stages = j["edit_stages"].as_array().unwrap();
    let writes = stages
        .iter()
        .find(|s| s["level"] == "institution" && s["stage"] == "write")
        .expect("the institutions' writes");
    assert!((writes["runs_per_edit"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    // The bench's own wait for each hub to listen is no refused caller in the hubs' records.
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !said.contains("TLS handshake refused"),
        "the bench's probes were recorded as refusals:\n{said}"
    );
}
