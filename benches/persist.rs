//! Persistence benchmark: durable ingest against in-memory ingest, and opening a large store
//! against a plain read of its files, each pair measured in the same run.
//!
//! `cargo bench --bench persist` (env: `ENGRAM_BENCH_ROWS`, default 1,000,000 rows of 384).

use std::io::Read;
use std::time::{Duration, Instant};

use engram::persist::{DurableEngram, StoreOptions, SyncPolicy};
use engram::{Config, Engram, EpisodeMeta};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DIM: usize = 384;

fn rows(n: usize, seed: u64) -> Vec<f32> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    (0..n * DIM).map(|_| r.random_range(-1.0f32..1.0)).collect()
}

fn ingest_rate(mut push: impl FnMut(&[f32], Vec<EpisodeMeta>), data: &[f32], batch: usize) -> f64 {
    let t = Instant::now();
    for (i, b) in data.chunks(batch * DIM).enumerate() {
        let metas = (0..b.len() / DIM)
            .map(|j| EpisodeMeta::at((i * batch + j) as u64))
            .collect();
        push(b, metas);
    }
    (data.len() / DIM) as f64 / t.elapsed().as_secs_f64()
}

/// Sequential write bandwidth (bytes/s) of `bytes` bytes in 1 MiB writes, fsynced at the end.
fn disk_write_rate(dir: &std::path::Path, bytes: u64) -> f64 {
    use std::io::Write;
    let path = dir.join("disk-probe.bin");
    let buf = vec![0x5au8; 1 << 20];
    let t = Instant::now();
    let mut f = std::fs::File::create(&path).expect("probe file");
    let mut done = 0u64;
    while done < bytes {
        f.write_all(&buf).expect("write");
        done += buf.len() as u64;
    }
    f.sync_all().expect("fsync");
    let rate = done as f64 / t.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(&path).ok();
    rate
}

fn main() {
    let n: usize = std::env::var("ENGRAM_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");

    // 1. Ingest: the same batches into memory and into a store that fsyncs every 10 ms.
    let ingest_n = (n / 5).clamp(10_000, 200_000);
    let data = rows(ingest_n, 1);
    let batch = 1000;
    let mut best = (0.0f64, 0.0f64);
    for round in 0..3 {
        let mut mem = Engram::new(Config::new(DIM)).expect("engine");
        let m = ingest_rate(
            |r, m| {
                mem.remember_batch(r, m).expect("ingest");
            },
            &data,
            batch,
        );
        drop(mem);
        let d = dir.path().join(format!("ingest{round}"));
        let opts = StoreOptions::default().sync(SyncPolicy::Interval(Duration::from_millis(10)));
        let mut s = DurableEngram::create(&d, Config::new(DIM), opts).expect("store");
        let du = ingest_rate(
            |r, m| {
                s.remember_batch(r, m).expect("ingest");
            },
            &data,
            batch,
        );
        s.sync().expect("sync");
        drop(s);
        std::fs::remove_dir_all(&d).ok();
        best = (best.0.max(m), best.1.max(du));
    }
    // The disk's own limit in the same run: sequential writes of the same volume, fsynced.
    let disk = disk_write_rate(dir.path(), (ingest_n * DIM * 4) as u64);
    let row_bytes = (DIM * 4) as f64;
    println!(
        "ingest {ingest_n} x {DIM} in batches of {batch} (best of 3): in-memory {:.0} rows/s, \
         durable (fsync every 10 ms) {:.0} rows/s = {:.0} % of in-memory (target >= 70 %); \
         the disk writes {:.2} GB/s sequentially (fsynced), i.e. at most {:.0} rows/s of {} \
         bytes: durable ingest reaches {:.0} % of the disk's limit",
        best.0,
        best.1,
        100.0 * best.1 / best.0,
        disk / 1e9,
        disk / row_bytes,
        row_bytes,
        100.0 * best.1 * row_bytes / disk
    );

    // 2. Open a store of n rows: checkpointed snapshot plus a log of 10,000 rows.
    let store = dir.path().join("big");
    {
        let mut e = Engram::new(Config::new(DIM)).expect("engine");
        let chunk = 50_000;
        let mut done = 0;
        while done < n {
            let k = chunk.min(n - done);
            e.remember_batch(&rows(k, 100 + done as u64), vec![])
                .expect("ingest");
            done += k;
        }
        let t = Instant::now();
        let mut s =
            DurableEngram::create_from(&store, e, StoreOptions::default().sync(SyncPolicy::Never))
                .expect("create");
        println!(
            "wrote a {n} x {DIM} snapshot in {:.2} s",
            t.elapsed().as_secs_f64()
        );
        s.remember_batch(&rows(10_000, 7), vec![]).expect("log");
    }
    let files: Vec<_> = ["snapshot.eng", "wal.log"]
        .iter()
        .map(|f| store.join(f))
        .collect();
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    for round in 0..3 {
        let t = Instant::now();
        let mut buf = vec![0u8; 8 << 20];
        let mut total = 0u64;
        for f in &files {
            let mut h = std::fs::File::open(f).expect("open");
            loop {
                let k = h.read(&mut buf).expect("read");
                if k == 0 {
                    break;
                }
                total += k as u64;
            }
        }
        let read = t.elapsed().as_secs_f64();
        // The bytes into memory (fresh allocations, as loading must make).
        let t = Instant::now();
        let whole: u64 = files
            .iter()
            .map(|f| std::fs::read(f).expect("read").len() as u64)
            .sum();
        let read_mem = t.elapsed().as_secs_f64();
        assert_eq!(whole, bytes);
        let t = Instant::now();
        let s = DurableEngram::open(&store, StoreOptions::default()).expect("open");
        let open = t.elapsed().as_secs_f64();
        assert_eq!(s.len(), n + 10_000);
        assert_eq!(total, bytes);
        drop(s);
        println!(
            "open round {round}: {:.2} GB in {open:.3} s | streaming read through one 8 MiB \
             buffer {read:.3} s ({:.1} GB/s), open/read = {:.2} | std::fs::read of the files \
             into memory {read_mem:.3} s ({:.1} GB/s), open/read = {:.2} (target <= 2)",
            bytes as f64 / 1e9,
            bytes as f64 / 1e9 / read,
            open / read,
            bytes as f64 / 1e9 / read_mem,
            open / read_mem
        );
    }
}
