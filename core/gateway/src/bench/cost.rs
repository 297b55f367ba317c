//! `gw bench --cost --volume N/month [--from results.json]`: what AWS API Gateway bills for
//! that volume at its published tiers (core/gateway/data/aws-apigw-prices.json, with its
//! source and date), beside the gw cores that volume needs at a measured throughput per core.

use serde_json::Value;

use super::args::CostArgs;

/// The price tables, built into the binary.
const PRICES: &str = include_str!("../../data/aws-apigw-prices.json");

/// Requests a second one gw core serves without `--from`: gw with one worker at c50 in
/// bench/README.md, "Current figures" (65,444 req/s, where the load side on the other core was
/// the limit), rounded down.
const DEFAULT_PER_CORE: f64 = 65_000.0;
/// Seconds in the month the volumes are given for (365.25 / 12 days).
const MONTH_S: f64 = 30.4375 * 86_400.0;

/// One API type's price table.
#[derive(Debug, Clone, PartialEq)]
struct Api {
    name: String,
    unit: String,
    /// (cumulative volume this tier reaches, `None` for the last; USD per million)
    tiers: Vec<(Option<f64>, f64)>,
    connection_minutes: Option<f64>,
}

/// The price file: its header and tables.
#[derive(Debug)]
struct Prices {
    provider: String,
    region: String,
    source: String,
    retrieved: String,
    apis: Vec<Api>,
}

fn text(v: &Value, key: &str) -> Result<String, String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("price data: no `{key}`"))
}

fn prices(raw: &str) -> Result<Prices, String> {
    let v: Value = serde_json::from_str(raw).map_err(|e| format!("price data: {e}"))?;
    let apis = v
        .get("apis")
        .and_then(Value::as_array)
        .ok_or("price data: no `apis`")?
        .iter()
        .map(|a| {
            let tiers = a
                .get("tiers")
                .and_then(Value::as_array)
                .ok_or("price data: an API without `tiers`")?
                .iter()
                .map(|t| {
                    let price = t
                        .get("usd_per_million")
                        .and_then(Value::as_f64)
                        .ok_or("price data: a tier without `usd_per_million`")?;
                    Ok((t.get("up_to").and_then(Value::as_f64), price))
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(Api {
                name: text(a, "name")?,
                unit: text(a, "unit")?,
                tiers,
                connection_minutes: a
                    .get("connection_minutes_usd_per_million")
                    .and_then(Value::as_f64),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Prices {
        provider: text(&v, "provider")?,
        region: text(&v, "region")?,
        source: text(&v, "source")?,
        retrieved: text(&v, "retrieved")?,
        apis,
    })
}

impl Api {
    /// USD for `volume` units in a month, tier by tier.
    fn bill(&self, volume: f64) -> f64 {
        let mut usd = 0.0;
        let mut below = 0.0;
        for (up_to, per_million) in &self.tiers {
            let top = up_to.unwrap_or(f64::INFINITY);
            let here = (volume.min(top) - below).max(0.0);
            usd += here / 1e6 * per_million;
            below = top;
            if volume <= top {
                break;
            }
        }
        usd
    }
}

/// The throughput per core from a `gw bench --json` file: its last target's responses a
/// second over `cores`, and that target's URL.
fn per_core(path: &std::path::Path, cores: f64) -> Result<(f64, String), String> {
    let raw = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&raw)
        .map_err(|e| format!("{}: not a `gw bench --json` file: {e}", path.display()))?;
    let last = v
        .get("targets")
        .and_then(Value::as_array)
        .and_then(|t| t.last())
        .ok_or_else(|| format!("{}: no targets", path.display()))?;
    let rate = last
        .get("requests_per_s")
        .and_then(Value::as_f64)
        .filter(|r| *r > 0.0)
        .ok_or_else(|| format!("{}: the last target has no requests_per_s", path.display()))?;
    Ok((rate / cores, text(last, "url").unwrap_or_default()))
}

/// `1234567.8` as `1,234,568`.
fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn dollars(usd: f64) -> String {
    format!(
        "${}.{:02}",
        thousands(usd.trunc()),
        (usd.fract() * 100.0).round() as u64 % 100
    )
}

/// The report; `Err` says what could not be read.
fn report(c: &CostArgs) -> Result<String, String> {
    let p = prices(PRICES)?;
    let (rate, source) = match &c.from {
        Some(path) => {
            let (r, url) = per_core(path, c.server_cores)?;
            let cores = if c.server_cores == 1.0 {
                "one core".to_owned()
            } else {
                format!("{} cores", c.server_cores)
            };
            (r, format!("{} ({url} on {cores})", path.display()))
        }
        None => (
            DEFAULT_PER_CORE,
            "the default: gw with one worker in bench/README.md, \"Current figures\"".to_owned(),
        ),
    };
    let average = c.volume / MONTH_S;
    let mut out = format!(
        "{} ({}), request prices from {} as of {}\n\
         volume: {} a month, {} a second on average\n\n",
        p.provider,
        p.region,
        p.source,
        p.retrieved,
        thousands(c.volume),
        thousands(average)
    );
    for api in &p.apis {
        let mut usd = api.bill(c.volume);
        let mut extra = String::new();
        match api.connection_minutes {
            Some(per_million) if c.connection_minutes > 0.0 => {
                let minutes = c.connection_minutes / 1e6 * per_million;
                usd += minutes;
                extra = format!(
                    " (incl. {} for {} connection-minutes)",
                    dollars(minutes),
                    thousands(c.connection_minutes)
                );
            }
            Some(per_million) => {
                extra = format!(", plus ${per_million:.2} per million connection-minutes");
            }
            None => {}
        }
        out.push_str(&format!(
            "  {:<14} {:>14} a month for {} {}{extra}\n",
            api.name,
            dollars(usd),
            thousands(c.volume),
            api.unit
        ));
    }
    let cores = (average / rate).ceil().max(1.0);
    out.push_str(&format!(
        "\ngw: {} requests a second per core, from {source}\n\
         gw cores for the average rate: {cores} (size for the peak: at 3x the average, {})\n",
        thousands(rate),
        (average * 3.0 / rate).ceil().max(1.0)
    ));
    Ok(out)
}

pub(crate) fn main(c: &CostArgs) -> i32 {
    match report(c) {
        Ok(r) => {
            print!("{r}");
            0
        }
        Err(e) => {
            eprintln!("gw bench --cost: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(name: &str) -> Api {
        prices(PRICES)
            .unwrap()
            .apis
            .into_iter()
            .find(|a| a.name == name)
            .unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn tiers_bill_as_published() {
        let rest = api("REST API");
        assert!(close(rest.bill(1e6), 3.50));
        assert!(close(rest.bill(333e6), 1165.5));
        // 333M at 3.50, 667M at 2.80, 1B at 2.38
        assert!(close(rest.bill(2e9), 1165.5 + 1867.6 + 2380.0));
        // and 5B beyond 20B at 1.51
        assert!(close(
            rest.bill(25e9),
            1165.5 + 1867.6 + 19_000.0 * 2.38 + 5_000.0 * 1.51
        ));
        let http = api("HTTP API");
        assert!(close(http.bill(2e9), 300.0 + 1700.0 * 0.9));
        let ws = api("WebSocket API");
        assert!(close(ws.bill(2e9), 1000.0 + 800.0));
        assert_eq!(ws.connection_minutes, Some(0.25));
    }

    #[test]
    fn the_report_states_source_and_cores() {
        let r = report(&CostArgs {
            volume: 2e9,
            from: None,
            connection_minutes: 4e6,
            server_cores: 1.0,
        })
        .unwrap();
        assert!(
            r.contains("https://aws.amazon.com/api-gateway/pricing/"),
            "{r}"
        );
        assert!(
            r.contains("$5,413.10 a month for 2,000,000,000 requests"),
            "{r}"
        );
        assert!(r.contains("$1,830.00"), "{r}");
        assert!(r.contains("$1,801.00"), "{r}");
        assert!(r.contains("gw cores for the average rate: 1"), "{r}");
        assert_eq!(thousands(1234567.8), "1,234,568");
        assert_eq!(dollars(5.5), "$5.50");
    }
}
