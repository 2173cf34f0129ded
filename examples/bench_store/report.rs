//! What a backend's rounds come to: the lines printed and the JSON object
//! of the last line, both from the same [`Summary`].
//!
//! Times are medians over the rounds; ratios are the median of each
//! round's own ratio (steadier than a ratio of medians when the machine's
//! speed drifts between rounds), printed with their range over the rounds.
//! A floor is the least time an implementation could take: a shape's
//! database work plus the mandated cryptography, spread perfectly over the
//! machine's cores and never below the database work itself
//! ([`Floor::least_time`]).

use std::time::Duration;

use serde_json::json;

use super::floor::{Floor, Floors};
use super::{median, median_f64, Round, Rounds, GETS, READS};

/// The targets: strongroom within 1.25x of its shape's floor, the
/// shape's database work within 1.25x of the least shape's, its stored
/// bytes within 1.3x of the least shape's.
const TO_FLOOR: f64 = 1.25;
const SHAPE_TO_LEAST: f64 = 1.25;
const BYTES_TO_LEAST: f64 = 1.3;
/// The typed layer against the key-value path.
const TYPED: f64 = 1.10;

/// A ratio over the rounds: its median and range.
#[derive(Clone, Copy)]
struct Stat {
    median: f64,
    low: f64,
    high: f64,
}

impl Stat {
    fn of(rounds: &[Round], f: impl Fn(&Round) -> f64) -> Stat {
        let v: Vec<f64> = rounds.iter().map(f).collect();
        Stat {
            median: median_f64(v.clone()),
            low: v.iter().copied().fold(f64::INFINITY, f64::min),
            high: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }

    /// `1.23x (rounds 1.10-1.40)`.
    fn show(&self) -> String {
        format!(
            "{:.2}x (rounds {:.2}-{:.2})",
            self.median, self.low, self.high
        )
    }

    /// [`Stat::show`] with the target and whether the median meets it.
    fn against(&self, target: f64) -> String {
        let verdict = if self.median <= target {
            "met"
        } else {
            "missed"
        };
        format!("{} [target <= {target}x: {verdict}]", self.show())
    }
}

/// Where one direction's times are in a round.
struct Access {
    plain: fn(&Round) -> Duration,
    strongroom: fn(&Round) -> Duration,
    /// strongroom's stored rows, plain diesel.
    stored: fn(&Round) -> Duration,
    /// The least shape, plain diesel.
    least: fn(&Round) -> Duration,
    /// The mandated cryptography for a shape's floor.
    crypto: fn(&Floor) -> Duration,
}

/// One direction (write, warm read, cold read) over the rounds.
struct Direction {
    plain: Duration,
    strongroom: Duration,
    stored: Duration,
    least: Duration,
    ratio: Stat,
    /// plain's own database work + the cryptography (strongroom's shape).
    plain_floor: Stat,
    shape_floor: Stat,
    least_floor: Stat,
    /// strongroom over its shape's floor.
    to_shape_floor: Stat,
    /// strongroom over its shape's floor with the cryptography spread as
    /// this machine spread it in the same round (measured), not perfectly.
    to_measured_floor: Stat,
    /// The cryptography's one-core time over its time on one thread per
    /// core (`cores` would be a perfect spread).
    spread_speedup: Stat,
    /// The shape's database work over the least shape's.
    shape_to_least: Stat,
    stored_to_plain: Stat,
    least_to_plain: Stat,
    /// The cryptography, one core: strongroom's shape, the least shape;
    /// strongroom's shape spread over every core (measured).
    crypto: Duration,
    crypto_least: Duration,
    crypto_spread: Duration,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Direction {
    fn of(r: &Rounds, cores: usize, a: Access) -> Direction {
        let rounds = &r.rounds;
        let time = |f: &dyn Fn(&Round) -> Duration| median(rounds.iter().map(f).collect());
        let floor = |base: fn(&Round) -> Duration, crypto: &dyn Fn(&Floors) -> Duration| {
            Stat::of(rounds, |x| {
                Floor::bound(base(x), crypto(x.floor()), cores, (a.plain)(x))
            })
        };
        Direction {
            plain: time(&a.plain),
            strongroom: time(&a.strongroom),
            stored: time(&a.stored),
            least: time(&a.least),
            ratio: Stat::of(rounds, |x| secs((a.strongroom)(x)) / secs((a.plain)(x))),
            plain_floor: floor(a.plain, &|f| (a.crypto)(&f.text)),
            shape_floor: floor(a.stored, &|f| (a.crypto)(&f.text)),
            least_floor: floor(a.least, &|f| (a.crypto)(&f.binary)),
            to_shape_floor: Stat::of(rounds, |x| {
                secs((a.strongroom)(x))
                    / secs(Floor::least_time(
                        (a.stored)(x),
                        (a.crypto)(&x.floor().text),
                        cores,
                    ))
            }),
            to_measured_floor: Stat::of(rounds, |x| {
                let crypto = (a.crypto)(&x.floor().text);
                let speedup = secs(crypto) / secs((a.crypto)(&x.floor().text_spread));
                let base = secs((a.stored)(x));
                let least = ((base + secs(crypto)) / speedup.clamp(1.0, cores as f64)).max(base);
                secs((a.strongroom)(x)) / least
            }),
            spread_speedup: Stat::of(rounds, |x| {
                secs((a.crypto)(&x.floor().text)) / secs((a.crypto)(&x.floor().text_spread))
            }),
            shape_to_least: Stat::of(rounds, |x| secs((a.stored)(x)) / secs((a.least)(x))),
            stored_to_plain: Stat::of(rounds, |x| secs((a.stored)(x)) / secs((a.plain)(x))),
            least_to_plain: Stat::of(rounds, |x| secs((a.least)(x)) / secs((a.plain)(x))),
            crypto: time(&|x| (a.crypto)(&x.floor().text)),
            crypto_least: time(&|x| (a.crypto)(&x.floor().binary)),
            crypto_spread: time(&|x| (a.crypto)(&x.floor().text_spread)),
        }
    }
}

/// Everything printed and written for one backend.
struct Summary {
    cores: usize,
    write: Direction,
    read: Direction,
    read_cold: Direction,
    get: [Duration; 3],
    bytes: f64,
    plain_bytes: f64,
    least_bytes: f64,
    bytes_to_least: Stat,
    typed_write: Stat,
    typed_read: Stat,
    /// The warm read through `query_pages`, and its ratio to the read by `query`.
    pages: Duration,
    pages_to_query: Stat,
}

impl Summary {
    fn of(r: &Rounds) -> Summary {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let rounds = &r.rounds;
        let number = |f: fn(&Round) -> f64| median_f64(rounds.iter().map(f).collect());
        let time = |f: fn(&Round) -> Duration| median(rounds.iter().map(f).collect());
        Summary {
            cores,
            write: Direction::of(
                r,
                cores,
                Access {
                    plain: |x| x.plain_write,
                    strongroom: |x| x.enc_write,
                    stored: |x| x.stored_write,
                    least: |x| x.least_write,
                    crypto: |f| f.write,
                },
            ),
            read: Direction::of(
                r,
                cores,
                Access {
                    plain: |x| x.plain_read,
                    strongroom: |x| x.enc_read,
                    stored: |x| x.stored_fetch,
                    least: |x| x.least_read,
                    crypto: |f| f.read,
                },
            ),
            read_cold: Direction::of(
                r,
                cores,
                Access {
                    plain: |x| x.plain_read,
                    strongroom: |x| x.enc_read_cold,
                    stored: |x| x.stored_fetch,
                    least: |x| x.least_read,
                    crypto: Floor::read_cold,
                },
            ),
            get: [
                time(|x| x.get_warm),
                time(|x| x.get_batch_uncached),
                time(|x| x.get_cold),
            ],
            bytes: number(|x| x.bytes),
            plain_bytes: number(|x| x.plain_bytes),
            least_bytes: number(|x| x.least_bytes),
            bytes_to_least: Stat::of(rounds, |x| x.bytes / x.least_bytes),
            typed_write: Stat::of(rounds, |x| secs(x.typed_write) / secs(x.enc_write)),
            typed_read: Stat::of(rounds, |x| secs(x.typed_read) / secs(x.enc_read)),
            pages: time(|x| x.enc_read_pages),
            pages_to_query: Stat::of(rounds, |x| secs(x.enc_read_pages) / secs(x.enc_read)),
        }
    }
}

/// Prints one backend's results.
pub fn print(label: &str, n: usize, r: &Rounds) {
    let s = Summary::of(r);
    let cores = s.cores;
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "\n{label}: {n} records, {} rounds (times: medians over the rounds; ratios: median of \
         each round's ratio, with their range)",
        r.rounds.len()
    );
    let show = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("{v:.2}"));
    println!(
        "  machine    load average {} at the start, {} at the end, on {cores} cores; this process \
         got {} cores on average (the PostgreSQL server not counted)",
        show(r.machine.load_start),
        show(r.machine.load_end),
        show(r.machine.cpu_share)
    );
    for (what, d) in [
        ("write     ", &s.write),
        ("read warm ", &s.read),
        ("read cold ", &s.read_cold),
    ] {
        println!(
            "  {what} plain {:>9.0} rec/s ({:>8.1?})   strongroom {:>9.0} rec/s ({:>8.1?})   ratio {}",
            rate(d.plain),
            d.plain,
            rate(d.strongroom),
            d.strongroom,
            d.ratio.show()
        );
    }
    println!(
        "  (read warm: one client again, key and batches cached; read cold: a fresh client, one \
         key unwrap and {} batch verifications; {READS} samples each a round)",
        n.div_ceil(200)
    );
    println!(
        "  (plain write: fastest insert way per round {:?}; strongroom write against each way: {})",
        r.plain_ways,
        r.plain_by_way
            .iter()
            .map(|(w, d)| format!(
                "{w:?} {d:.1?} -> {:.2}x",
                s.write.strongroom.as_secs_f64() / d.as_secs_f64()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  pages      read warm through query_pages (the next page fetched while one is opened): {:.1?}, \
         {} the read page by page with query",
        s.pages,
        s.pages_to_query.show()
    );
    println!(
        "  get        one record: warm {:.1?}, batch cache cleared {:.1?}, cold (a fresh client) {:.1?} \
         (medians of {}, {} and {} gets a round)",
        s.get[0], s.get[1], s.get[2], GETS[0], GETS[1], GETS[2]
    );
    println!(
        "  crypto     mandated, alone, one core, strongroom's shape (least shape): write {:.1?} ({:.1?}), \
         read warm {:.1?} ({:.1?}), read cold {:.1?} ({:.1?})",
        s.write.crypto,
        s.write.crypto_least,
        s.read.crypto,
        s.read.crypto_least,
        s.read_cold.crypto,
        s.read_cold.crypto_least
    );
    println!(
        "             spread over {cores} threads, measured: write {:.1?}, read warm {:.1?}, read cold {:.1?} \
         (a perfect spread: {:.1?}, {:.1?}, {:.1?})",
        s.write.crypto_spread,
        s.read.crypto_spread,
        s.read_cold.crypto_spread,
        s.write.crypto / cores as u32,
        s.read.crypto / cores as u32,
        s.read_cold.crypto / cores as u32,
    );
    println!(
        "  database   strongroom's stored rows, plain diesel: insert {:.1?} ({} plain), fetch {:.1?} ({} plain)",
        s.write.stored,
        s.write.stored_to_plain.show(),
        s.read.stored,
        s.read.stored_to_plain.show()
    );
    println!(
        "             least shape (binary, no meta or batch index), plain diesel: insert {:.1?} ({} plain), fetch {:.1?} ({} plain)",
        s.write.least,
        s.write.least_to_plain.show(),
        s.read.least,
        s.read.least_to_plain.show()
    );
    println!(
        "             stored rows / least shape: write {}, read {}",
        s.write.shape_to_least.against(SHAPE_TO_LEAST),
        s.read.shape_to_least.against(SHAPE_TO_LEAST)
    );
    println!(
        "  floors     (database work + that crypto spread over {cores} cores) / plain: write, read warm, read cold"
    );
    for (what, f) in [
        (
            "plain's own rows  ",
            (|d: &Direction| d.plain_floor) as fn(&Direction) -> Stat,
        ),
        ("shape_floor_ratio ", |d| d.shape_floor),
        ("least_floor_ratio ", |d| d.least_floor),
    ] {
        println!(
            "             {what} {}, {}, {}",
            f(&s.write).show(),
            f(&s.read).show(),
            f(&s.read_cold).show()
        );
    }
    println!(
        "  strongroom / its shape floor: write {}, read warm {}, read cold {}",
        s.write.to_shape_floor.against(TO_FLOOR),
        s.read.to_shape_floor.against(TO_FLOOR),
        s.read_cold.to_shape_floor.show()
    );
    println!(
        "  strongroom / its shape floor with the crypto spread as measured (speedup on {cores} threads: \
         write {}, read warm {}, read cold {}): write {}, read warm {}, read cold {}",
        s.write.spread_speedup.show(),
        s.read.spread_speedup.show(),
        s.read_cold.spread_speedup.show(),
        s.write.to_measured_floor.show(),
        s.read.to_measured_floor.show(),
        s.read_cold.to_measured_floor.show()
    );
    let last = r.rounds.last().expect("a round");
    println!(
        "  size       stored bytes a record: strongroom {:.0} ({}), plain {:.0}, least shape {:.0}; \
         strongroom / least {}",
        s.bytes,
        last.per_table
            .iter()
            .filter(|(_, b)| **b >= 0.5)
            .map(|(t, b)| format!("{t} {b:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
        s.plain_bytes,
        s.least_bytes,
        s.bytes_to_least.against(BYTES_TO_LEAST)
    );
    println!(
        "  typed      write {:>8.1?} ({} key-value)   read warm {:>8.1?} ({} key-value)   [target <= {TYPED}x]",
        median(r.rounds.iter().map(|x| x.typed_write).collect()),
        s.typed_write.show(),
        median(r.rounds.iter().map(|x| x.typed_read).collect()),
        s.typed_read.show()
    );
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

fn us(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e7).round() / 10.0
}

fn x(ratio: f64) -> f64 {
    (ratio * 1000.0).round() / 1000.0
}

/// The JSON object of one backend (medians).
pub fn json(n: usize, r: &Rounds) -> serde_json::Value {
    let s = Summary::of(r);
    let direction = |d: &Direction| {
        json!({
            "plain_ms": ms(d.plain),
            "strongroom_ms": ms(d.strongroom),
            "ratio": x(d.ratio.median),
            "shape_floor_ratio": x(d.shape_floor.median),
            "least_floor_ratio": x(d.least_floor.median),
            "plain_floor_ratio": x(d.plain_floor.median),
            "to_shape_floor": x(d.to_shape_floor.median),
            "to_measured_floor": x(d.to_measured_floor.median),
            "crypto_one_core_ms": ms(d.crypto),
            "crypto_spread_ms": ms(d.crypto_spread),
            "spread_speedup": x(d.spread_speedup.median),
            "shape_db_ms": ms(d.stored),
            "least_db_ms": ms(d.least),
            "shape_db_to_least_db": x(d.shape_to_least.median),
        })
    };
    let mut read = direction(&s.read);
    let extra = json!({
        "strongroom_warm_ms": ms(s.read.strongroom),
        "strongroom_cold_ms": ms(s.read_cold.strongroom),
        "cold_ratio": x(s.read_cold.ratio.median),
        "cold_shape_floor_ratio": x(s.read_cold.shape_floor.median),
        "cold_least_floor_ratio": x(s.read_cold.least_floor.median),
        "cold_to_shape_floor": x(s.read_cold.to_shape_floor.median),
        "get_warm_us": us(s.get[0]),
        "get_batch_uncached_us": us(s.get[1]),
        "get_cold_us": us(s.get[2]),
    });
    if let (Some(read), Some(extra)) = (read.as_object_mut(), extra.as_object()) {
        read.extend(extra.clone());
    }
    json!({
        "records": n,
        "rounds": r.rounds.len(),
        "write": direction(&s.write),
        "read": read,
        "bytes_per_record": (s.bytes * 10.0).round() / 10.0,
        "plain_bytes_per_record": (s.plain_bytes * 10.0).round() / 10.0,
        "least_bytes_per_record": (s.least_bytes * 10.0).round() / 10.0,
        "bytes_to_least": x(s.bytes_to_least.median),
        "typed_write_ratio": x(s.typed_write.median),
        "typed_read_ratio": x(s.typed_read.median),
        "pages_ms": ms(s.pages),
        "pages_to_query": x(s.pages_to_query.median),
        "machine": {
            "load_average_start": r.machine.load_start,
            "load_average_end": r.machine.load_end,
            "process_cpu_share": r.machine.cpu_share.map(x),
        },
    })
}
