//! `fault-proxy UPSTREAM SEED PHASES`: the test kit's fault-injecting proxy in front of
//! `UPSTREAM` (`host:port`), for benchmarks. Prints its address, then once a second a
//! line of what it saw in that second:
//! `t=SECONDS started=N max_in_flight=N items=N rejected=N failed=N`.
//!
//! `PHASES` is a list of `SECONDS:FAULTS` separated by `;`, each applying from that
//! many seconds after the start; FAULTS is `clean` or comma-separated `name=share`
//! (`item_429`, `request_503`, `reset_after`, `stall`) and `stall_for=SECONDS`. For
//! example `0:item_429=0.05` or `0:clean;10:item_429=1;40:clean`.

use std::time::Duration;
use testkit::proxy::{FaultProxy, Faults};

fn parse_faults(text: &str) -> anyhow::Result<Faults> {
    let mut f = Faults::default();
    if text == "clean" {
        return Ok(f);
    }
    for part in text.split(',') {
        let (name, value) = part.split_once('=').ok_or_else(|| anyhow::anyhow!("`{part}`: expected name=value"))?;
        let v: f64 = value.parse()?;
        match name {
            "item_429" => f.item_429 = v,
            "request_503" => f.request_503 = v,
            "reset_after" => f.reset_after = v,
            "stall" => f.stall = v,
            "stall_for" => f.stall_for = Duration::from_secs_f64(v),
            _ => anyhow::bail!("unknown fault `{name}`"),
        }
    }
    Ok(f)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, upstream, seed, phases] = args.as_slice() else {
        anyhow::bail!("usage: fault-proxy UPSTREAM SEED PHASES");
    };
    let mut plan = Vec::new();
    for phase in phases.split(';').filter(|p| !p.is_empty()) {
        let (at, faults) =
            phase.split_once(':').ok_or_else(|| anyhow::anyhow!("`{phase}`: expected SECONDS:FAULTS"))?;
        plan.push((at.parse::<f64>()?, parse_faults(faults)?));
    }
    let first = plan.first().map(|p| p.1.clone()).unwrap_or_default();
    let proxy = FaultProxy::start("127.0.0.1:0", upstream, first, seed.parse()?)?;
    println!("{}", proxy.addr);
    let mut next = 1;
    for second in 1u64.. {
        let target = Duration::from_secs(second);
        std::thread::sleep(target.saturating_sub(proxy.elapsed()));
        while next < plan.len() && plan[next].0 <= target.as_secs_f64() {
            proxy.set_faults(plan[next].1.clone());
            next += 1;
        }
        let from = target - Duration::from_secs(1);
        let seen = proxy.seen();
        let here: Vec<_> = seen.iter().filter(|s| s.start >= from && s.start < target).collect();
        // Most requests in flight at once during the second, from every request's span.
        let mut edges: Vec<(Duration, i64)> = seen
            .iter()
            .filter(|s| s.end >= from && s.start < target)
            .flat_map(|s| [(s.start.max(from), 1), (s.end, -1)])
            .collect();
        edges.sort();
        let (mut now, mut most) = (0i64, 0i64);
        for (_, d) in edges {
            now += d;
            most = most.max(now);
        }
        println!(
            "t={second} started={} max_in_flight={most} items={} rejected={} failed={}",
            here.len(),
            here.iter().map(|s| s.items).sum::<usize>(),
            here.iter().map(|s| s.rejected).sum::<usize>(),
            here.iter().filter(|s| s.outcome == "503" || s.outcome == "reset").count(),
        );
    }
    Ok(())
}
