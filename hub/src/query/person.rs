//! `person QUERY`: every place a person was polled, side by side, with data problems.

use super::results::SubjectRow;
use super::sessions::sessions;
use super::Hub;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tinnhiem_core::domain::{text::name_matches, Procedure};

/// The answer to `person`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PersonReport {
    pub(crate) query: String,
    /// Each person found, by person id.
    pub(crate) people: Vec<Person>,
}

/// One person and every place they were polled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Person {
    pub(crate) person_id: String,
    /// As written in the first session found.
    pub(crate) name: String,
    pub(crate) places: usize,
    pub(crate) results: Vec<SubjectRow>,
    /// In Vietnamese, for people.
    pub(crate) problems: Vec<String>,
}

/// By person id, else by name (with or without diacritics).
pub(crate) fn person(hub: Hub<'_>, query: &str) -> Result<PersonReport> {
    let all = sessions(hub.store, hub.cache)?;
    let hits_by = |pred: &dyn Fn(&tinnhiem_core::domain::SubjectResult) -> bool| {
        all.iter()
            .flat_map(|s| {
                s.result
                    .subjects
                    .iter()
                    .filter(|x| pred(x))
                    .map(move |x| (s, x))
            })
            .collect::<Vec<_>>()
    };
    let by_id = hits_by(&|x| x.person_id.as_str() == query);
    let hits = if by_id.is_empty() {
        hits_by(&|x| name_matches(&x.name, query))
    } else {
        by_id
    };
    let mut people: BTreeMap<String, Vec<SubjectRow>> = BTreeMap::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    // QĐ 96's limit counts the places a cadre is polled in one year, and names the
    // council (HĐND) among them: every poll counts, whatever its profile, once any poll
    // of that year falls under a profile with a limit.
    let mut places: BTreeMap<(String, i32), (usize, Option<usize>)> = BTreeMap::new();
    for (s, x) in &hits {
        let id = x.person_id.to_string();
        people
            .entry(id.clone())
            .or_default()
            .push(SubjectRow::of(s, x));
        names.entry(id.clone()).or_insert_with(|| x.name.clone());
        if s.result.procedure == Procedure::Poll {
            use chrono::Datelike;
            let e = places.entry((id, s.meta.date.year())).or_default();
            e.0 += 1;
            e.1 = e.1.max(s.result.profile.rules().max_places_per_person);
        }
    }
    let people = people
        .into_iter()
        .map(|(id, results)| {
            let mut problems = Vec::new();
            for ((_, year), (n, max)) in
                places.range((id.clone(), i32::MIN)..=(id.clone(), i32::MAX))
            {
                if let Some(max) = max.filter(|m| n > m) {
                    problems.push(format!(
                        "năm {year} được lấy phiếu ở {n} nơi (kể cả HĐND); QĐ 96 cho tối đa {max} nơi: dữ liệu cần kiểm tra"
                    ));
                }
            }
            Person {
                name: names.get(&id).cloned().unwrap_or_default(),
                person_id: id,
                places: results.len(),
                results,
                problems,
            }
        })
        .collect();
    Ok(PersonReport {
        query: query.to_owned(),
        people,
    })
}
