//! Instant queries against the Prometheus HTTP API (`GET /api/v1/query?query=...`).
//! Vector results give one value per series (picked by `by_label` when the plan sets it),
//! scalar results one value; an empty result means no data; `{"status":"error"}` answers
//! are reported with Prometheus' own message.
//!
//! Only `query` does IO (an answer is read no further than the probe's `max_body`); reading
//! the answer and picking a series are pure.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::action::http::{describe, read_capped_text};

/// One series of a vector result.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value (may be NaN or infinite, as Prometheus sends them).
    pub value: f64,
}

fn sample_value(pair: &Value) -> Result<f64, String> {
    let text = pair
        .get(1)
        .and_then(Value::as_str)
        .ok_or_else(|| "a sample is not [time, \"value\"]".to_owned())?;
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        t => t.parse().map_err(|_| format!("`{t}` is not a number")),
    }
}

/// Reads an answer of the HTTP API: the series of a vector or scalar result.
pub fn parse_response(status: u16, body: &str) -> Result<Vec<Series>, String> {
    let json: Value = match serde_json::from_str(body) {
        Ok(j) => j,
        Err(_) if status != 200 => return Err(format!("status {status} from Prometheus")),
        Err(_) => return Err("Prometheus answered something that is not JSON".into()),
    };
    if json.get("status").and_then(Value::as_str) == Some("error") {
        let kind = json.get("errorType").and_then(Value::as_str).unwrap_or("error");
        let message = json.get("error").and_then(Value::as_str).unwrap_or("(no message)");
        return Err(format!("Prometheus {kind}: {message}"));
    }
    if status != 200 {
        return Err(format!("status {status} from Prometheus"));
    }
    let data = json.get("data").ok_or("Prometheus answered without `data`")?;
    let kind = data.get("resultType").and_then(Value::as_str).unwrap_or("");
    let result = data.get("result").ok_or("Prometheus answered without `data.result`")?;
    match kind {
        "vector" => {
            let items = result.as_array().ok_or("a vector result is not a list")?;
            items
                .iter()
                .map(|item| {
                    let labels = item
                        .get("metric")
                        .and_then(Value::as_object)
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                                .collect()
                        })
                        .unwrap_or_default();
                    let value = sample_value(item.get("value").unwrap_or(&Value::Null))?;
                    Ok(Series { labels, value })
                })
                .collect()
        }
        "scalar" => Ok(vec![Series { labels: BTreeMap::new(), value: sample_value(result)? }]),
        "matrix" => {
            Err("the query returned a range vector; use an instant expression such as rate(x[5m])"
                .into())
        }
        other => Err(format!("the query returned a {other} result, not a number")),
    }
}

/// The value a metric shows, picked from a query's series.
#[derive(Debug, Clone, PartialEq)]
pub struct Picked {
    /// The value judged (none: no data).
    pub value: Option<f64>,
    /// The label value it was picked by.
    pub label: Option<String>,
    /// The other series, by label value, to show beside it.
    pub others: Vec<(String, f64)>,
}

/// Picks the series to judge. Without `by_label` the result must be one series (an empty
/// result is no data). With it, the series whose label equals `prefer` (the new version)
/// wins, else the one equal to `fallback` (the version being replaced: before the first
/// shift only it has traffic), else the only one.
pub fn pick(
    series: &[Series],
    by_label: Option<&str>,
    prefer: Option<&str>,
    fallback: Option<&str>,
) -> Result<Picked, String> {
    let usable = |v: f64| v.is_finite().then_some(v);
    let Some(label) = by_label else {
        return match series {
            [] => Ok(Picked { value: None, label: None, others: Vec::new() }),
            [one] => Ok(Picked { value: usable(one.value), label: None, others: Vec::new() }),
            many => Err(format!(
                "the query returned {} series; aggregate it (e.g. sum(...)) or set by_label",
                many.len()
            )),
        };
    };
    let named: Vec<(String, f64)> = series
        .iter()
        .map(|s| (s.labels.get(label).cloned().unwrap_or_default(), s.value))
        .collect();
    let chosen = [prefer, fallback]
        .into_iter()
        .flatten()
        .find_map(|want| named.iter().position(|(l, _)| l == want))
        .or((named.len() == 1).then_some(0));
    let others = named
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != chosen)
        .map(|(_, (l, v))| (l.clone(), *v))
        .collect();
    Ok(match chosen {
        Some(i) => Picked { value: usable(named[i].1), label: Some(named[i].0.clone()), others },
        None => Picked { value: None, label: None, others },
    })
}

/// The stable side of a `by_label` result: the series whose label is exactly the version
/// being replaced (`old`), never a fallback. `None` when that version has no series, or
/// when the previous version is not known.
pub fn stable_value(series: &[Series], by_label: &str, old: Option<&str>) -> Option<f64> {
    let old = old?;
    series
        .iter()
        .find(|s| s.labels.get(by_label).map(String::as_str) == Some(old))
        .map(|s| s.value)
        .filter(|v| v.is_finite())
}

/// Runs an instant query, reading no more than `max_body` bytes of the answer and parsing it
/// off the thread that draws.
pub async fn query(
    client: &reqwest::Client,
    base: &str,
    expr: &str,
    timeout: Duration,
    max_body: u64,
) -> Result<Vec<Series>, String> {
    let endpoint = format!("{}/api/v1/query", base.trim_end_matches('/'));
    let url = reqwest::Url::parse_with_params(&endpoint, &[("query", expr)])
        .map_err(|e| format!("bad Prometheus URL `{base}`: {e}"))?;
    let response = client.get(url).timeout(timeout).send().await.map_err(|e| describe(&e))?;
    let status = response.status().as_u16();
    let body = read_capped_text(response, max_body, "max_body").await?;
    tokio::task::spawn_blocking(move || parse_response(status, &body))
        .await
        .map_err(|e| format!("reading the Prometheus answer failed: {e}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stable_side_is_the_previous_version_only_never_new_leftovers() {
        // The new version's series holds leftovers of an earlier, rolled-back release.
        let v = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"version":"1.4.0"},"value":[1.5,"0.497"]},
            {"metric":{"version":"1.3.2"},"value":[1.5,"0.005"]}]}}"#;
        let s = parse_response(200, v).unwrap();
        assert_eq!(stable_value(&s, "version", Some("1.3.2")), Some(0.005));
        // Without the previous version's series there is no stable side: no fallback.
        assert_eq!(stable_value(&s[..1], "version", Some("1.3.2")), None);
        assert_eq!(stable_value(&s, "version", None), None);
    }

    #[test]
    fn reads_vectors_scalars_and_errors() {
        let v = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"version":"1.4.0"},"value":[1.5,"0.03"]},
            {"metric":{"version":"1.3.2"},"value":[1.5,"0.001"]}]}}"#;
        let s = parse_response(200, v).unwrap();
        assert_eq!(s.len(), 2);
        let p = pick(&s, Some("version"), Some("1.4.0"), Some("1.3.2")).unwrap();
        assert_eq!(p.value, Some(0.03));
        assert_eq!(p.others, vec![("1.3.2".to_owned(), 0.001)]);
        let p = pick(&s[1..], Some("version"), Some("1.4.0"), Some("1.3.2")).unwrap();
        assert_eq!(p.label.as_deref(), Some("1.3.2"));
        assert!(pick(&s, None, None, None).is_err());
        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}"#;
        assert_eq!(parse_response(200, scalar).unwrap()[0].value, 2.0);
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(
            pick(&parse_response(200, empty).unwrap(), None, None, None).unwrap().value,
            None
        );
        let err = r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#;
        assert_eq!(
            parse_response(400, err).unwrap_err(),
            "Prometheus bad_data: parse error at char 5"
        );
        assert_eq!(parse_response(502, "<html>").unwrap_err(), "status 502 from Prometheus");
        let nan = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}"#;
        assert_eq!(pick(&parse_response(200, nan).unwrap(), None, None, None).unwrap().value, None);
    }
}
