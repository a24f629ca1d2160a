//! What the benchmark measures with: summaries of repeated runs, a counter of
//! the statements sqlx sends, the peak of heap memory in use, the CPU time
//! this process used and the machine's load average.

use serde::Serialize;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// Median, quartiles, minimum and maximum of repeated measurements.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    pub median: f64,
    /// The first quartile: a quarter of the values are at or below it.
    pub q1: f64,
    /// The third quartile: three quarters of the values are at or below it.
    pub q3: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Summary {
            median: quantile(&sorted, 0.5),
            q1: quantile(&sorted, 0.25),
            q3: quantile(&sorted, 0.75),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        })
    }

    /// The interquartile range: the width of the middle half of the values.
    pub fn iqr(&self) -> f64 {
        self.q3 - self.q1
    }
}

/// The `q`-quantile of sorted values, interpolated linearly between the two nearest.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (below, above) = (position.floor() as usize, position.ceil() as usize);
    let weight = position - below as f64;
    sorted[below] * (1.0 - weight) + sorted[above] * weight
}

/// CPU time this process has used so far (user and system, every thread), in milliseconds.
pub fn cpu_millis() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `getrusage` writes a `rusage` into the pointer it is given, which
    // points to one that lives until the call returns.
    #[allow(unsafe_code)]
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return 0.0;
        }
        usage.assume_init()
    };
    let millis = |time: libc::timeval| time.tv_sec as f64 * 1000.0 + time.tv_usec as f64 / 1000.0;
    millis(usage.ru_utime) + millis(usage.ru_stime)
}

/// Wall time and this process's CPU time of one measured call, from when it was started.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    wall: std::time::Instant,
    cpu: f64,
}

impl Stopwatch {
    pub fn start() -> Self {
        Stopwatch { cpu: cpu_millis(), wall: std::time::Instant::now() }
    }

    /// Wall milliseconds and CPU milliseconds since [`Stopwatch::start`].
    pub fn stop(&self) -> (f64, f64) {
        let wall = self.wall.elapsed().as_secs_f64() * 1000.0;
        (wall, cpu_millis() - self.cpu)
    }
}

/// The machine's load average over the last minute, before and after a scenario.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Load {
    pub before: f64,
    pub after: f64,
}

impl Load {
    /// The load average over the last minute (0 where the system does not say).
    pub fn now() -> f64 {
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|text| text.split_whitespace().next().and_then(|value| value.parse().ok()))
            .unwrap_or(0.0)
    }

    /// Whether other work competed for the cores: a load above half of them, before or after.
    pub fn busy(&self, cores: usize) -> bool {
        self.before.max(self.after) > cores as f64 / 2.0
    }
}

/// Counts the statements sqlx logs (target `sqlx::query`) while armed.
/// Disarmed, it tells sqlx that nothing listens, so timed runs pay nothing.
#[derive(Debug, Default)]
pub struct QueryCounter {
    armed: AtomicBool,
    count: AtomicUsize,
}

pub static QUERIES: QueryCounter = QueryCounter { armed: AtomicBool::new(false), count: AtomicUsize::new(0) };

impl QueryCounter {
    /// Installs the counter as the process's subscriber.
    pub fn install() {
        let _ = tracing::subscriber::set_global_default(&QUERIES);
    }

    /// Starts counting from zero.
    pub fn start(&self) {
        self.count.store(0, Ordering::SeqCst);
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Stops counting; returns the statements sent since [`QueryCounter::start`].
    pub fn stop(&self) -> usize {
        self.armed.store(false, Ordering::SeqCst);
        self.count.load(Ordering::SeqCst)
    }
}

impl Subscriber for &'static QueryCounter {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if metadata.target() == "sqlx::query" { Interest::sometimes() } else { Interest::never() }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "sqlx::query" && self.armed.load(Ordering::Relaxed)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        if event.metadata().target() == "sqlx::query" && self.armed.load(Ordering::Relaxed) {
            self.count.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// The system allocator, keeping the number of bytes in use and its peak.
#[derive(Debug)]
pub struct PeakHeap {
    current: AtomicUsize,
    peak: AtomicUsize,
}

impl PeakHeap {
    pub const fn new() -> Self {
        PeakHeap { current: AtomicUsize::new(0), peak: AtomicUsize::new(0) }
    }

    /// Starts watching for a new peak; returns the bytes in use now.
    pub fn start(&self) -> usize {
        let before = self.current.load(Ordering::SeqCst);
        self.peak.store(before, Ordering::SeqCst);
        before
    }

    /// The most bytes in use at once since [`PeakHeap::start`] returned `before`, beyond `before`.
    pub fn peak_since(&self, before: usize) -> usize {
        self.peak.load(Ordering::SeqCst).saturating_sub(before)
    }
}

impl Default for PeakHeap {
    fn default() -> Self {
        Self::new()
    }
}

// The allocator only counts: every call goes to the system allocator unchanged.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for PeakHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout, under the caller's guarantees.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let now = self.current.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's pointer, layout and size, under the caller's guarantees.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            let now = self.current.fetch_add(new_size, Ordering::Relaxed) + new_size;
            self.peak.fetch_max(now, Ordering::Relaxed);
            self.current.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        moved
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout, under the caller's guarantees.
        unsafe { System.dealloc(pointer, layout) };
        self.current.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}
