//! Filling the demo network with a country: residents registered at the
//! registry, enrolled at the institutions that serve them, and each
//! institution's items imported — all through the real APIs, as the
//! municipalities' and agencies' business systems would.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use renkei_api::node::{EnrolPerson, EnrolRefusal, EnrolRequest, EnrolResult, ImportResult};
use renkei_api::registry::{AddressChange, EventRecorded, RegisterRequest, RegisterResult, ResidentWire};
use renkei_population::{Circumstances, Relationship, Resident, ResidentTax, age_on};
use renkei_transport::LocalClient;
use serde_json::json;
use time::Date;

use crate::institutions::{DIGITAL, KENPO, PENSION, SETAGAYA, TAX, VEHICLE, YOKOHAMA};
use crate::network::Network;

/// How big a country.
#[derive(Debug, Clone)]
pub struct CountryOptions {
    pub residents: usize,
    pub seed: u64,
    /// "Today" for ages.
    pub today: Date,
    pub progress: bool,
}

/// The smallest population in which every scenario finds its cast.
pub const MIN_RESIDENTS: usize = 200;

/// People the scenarios use, by their local id at each institution.
#[derive(Debug, Clone, Default)]
pub struct Cast {
    /// A parent who moved from Yokohama to Setagaya: (Setagaya id, Yokohama id).
    pub mover: (String, String),
    /// Aged 65 or more: (Setagaya id, pension id).
    pub pensioner: (String, String),
    /// Aged 20–59: (pension id, Setagaya id).
    pub contributor: (String, String),
    /// Employed, insured and 35 or older (checkups on file): (Kyokai
    /// Kenpo id, Setagaya id).
    pub insured: (String, String),
    /// Owns a car: vehicle office id.
    pub driver: String,
    /// Has a public-fund account: (Setagaya id, Digital Agency id).
    pub account_holder: (String, String),
    /// Known to the tax agency: (tax id, Setagaya id).
    pub taxpayer: (String, String),
    /// The person Setagaya's file has a stale address for.
    pub stale: String,
}

/// What was loaded.
#[derive(Clone)]
pub struct Country {
    pub residents: usize,
    pub movers: usize,
    pub enrolled: BTreeMap<&'static str, usize>,
    pub refused: BTreeMap<&'static str, Vec<EnrolRefusal>>,
    pub imported: BTreeMap<&'static str, usize>,
    pub cast: Cast,
    /// Every My Number issued, kept only in memory for the privacy checks.
    pub my_numbers: Vec<String>,
    /// Every resident as the demo's business systems know them (in memory
    /// only): whom to issue a card to, whom a scenario is about.
    pub people: Vec<Inhabitant>,
}

/// One resident of the demo country.
#[derive(Clone)]
pub struct Inhabitant {
    pub my_number: String,
    pub name: String,
    pub kana: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// The current address in the register.
    pub address: String,
    pub age: i32,
    pub household: u32,
    /// Head of household, spouse, child or parent.
    pub relationship: &'static str,
    pub employed: bool,
    /// Holds a disability certificate (the municipality's file says so).
    pub disability: bool,
    /// Local ids by institution key.
    pub ids: BTreeMap<&'static str, String>,
}

impl std::fmt::Debug for Inhabitant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inhabitant")
            .field("age", &self.age)
            .field("ids", &self.ids)
            .finish_non_exhaustive()
    }
}

impl Country {
    /// The resident an institution knows by `local_id`.
    pub fn inhabitant(&self, institution: &str, local_id: &str) -> Option<&Inhabitant> {
        self.people
            .iter()
            .find(|p| p.ids.get(institution).is_some_and(|id| id == local_id))
    }
}

impl std::fmt::Debug for Country {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Country")
            .field("residents", &self.residents)
            .field("enrolled", &self.enrolled)
            .field("imported", &self.imported)
            .finish_non_exhaustive()
    }
}

/// What the business systems know about one resident.
struct Person<'a> {
    r: &'a Resident,
    my_number: String,
    age: i32,
    mover: bool,
    /// The address before the move (movers only).
    previous_address: Option<String>,
    employed: bool,
    car: bool,
    account: bool,
    taxpayer: bool,
    disability: bool,
    assistance: bool,
    ids: HashMap<&'static str, String>,
}

/// A progress bar in the demo's style; the enrolment benchmark draws its
/// bars with it too.
pub fn bar(multi: &MultiProgress, len: u64, label: &str) -> ProgressBar {
    let pb = multi.add(ProgressBar::new(len));
    pb.set_style(
        ProgressStyle::with_template("{prefix:>22} [{bar:30}] {pos:>7}/{len:7} {msg}")
            .expect("static template parses")
            .progress_chars("=> "),
    );
    pb.set_prefix(label.to_owned());
    pb
}

fn enrol_entry(p: &Person<'_>, local_id: &str, address: &str) -> EnrolPerson {
    EnrolPerson {
        local_id: local_id.to_owned(),
        my_number: p.my_number.clone(),
        name: p.r.name.to_string(),
        address: address.to_owned(),
        birth_date: p.r.birth_date.to_string(),
        sex: p.r.sex.iso5218(),
    }
}

/// Enrol `entries` at one institution through its local API, in batches
/// of 1,000; what was enrolled and what was refused.
pub async fn enrol_all(
    client: LocalClient,
    entries: Vec<EnrolPerson>,
    pb: ProgressBar,
) -> Result<EnrolResult> {
    let mut all = EnrolResult {
        enrolled: Vec::new(),
        refused: Vec::new(),
    };
    for chunk in entries.chunks(1000) {
        let r: EnrolResult = client
            .post(
                "/local/v1/persons",
                &EnrolRequest {
                    persons: chunk.to_vec(),
                },
            )
            .await
            .with_context(|| format!("enrolling at {}", client.base()))?;
        pb.inc(chunk.len() as u64);
        all.enrolled.extend(r.enrolled);
        all.refused.extend(r.refused);
    }
    pb.finish_with_message(format!("enrolled, {} refused", all.refused.len()));
    Ok(all)
}

/// Register `people` at the registry in batches of 5,000 (an address from
/// `address_of` overrides the resident's own); their My Numbers in order.
pub async fn register_residents(
    net: &Network,
    people: &[Resident],
    address_of: impl Fn(&Resident) -> Option<String>,
    pb: &ProgressBar,
) -> Result<Vec<String>> {
    let mut my_numbers = Vec::with_capacity(people.len());
    for chunk in people.chunks(5000) {
        let residents = chunk
            .iter()
            .map(|r| ResidentWire {
                name: r.name.to_string(),
                kana: r.kana.to_string(),
                address: address_of(r).unwrap_or_else(|| r.address.to_string()),
                birth_date: r.birth_date.to_string(),
                sex: r.sex.iso5218(),
                household: u64::from(r.household),
                // Registered where they have lived since 2020 (or birth):
                // every resident had an address on 1 January, which the
                // statutory filing asks for.
                address_since: Some(r.birth_date.to_string().max("2020-04-01".to_owned())),
            })
            .collect();
        let res: RegisterResult = net
            .registry_admin
            .post("/admin/v1/residents", &RegisterRequest { residents })
            .await
            .context("registering residents")?;
        my_numbers.extend(res.my_numbers);
        pb.inc(chunk.len() as u64);
    }
    Ok(my_numbers)
}

/// Build the country: register, enrol, import.
pub async fn populate(net: &Network, opts: &CountryOptions) -> Result<Country> {
    if opts.residents < MIN_RESIDENTS {
        bail!("the demo needs at least {MIN_RESIDENTS} residents to cast its scenarios");
    }
    let multi = MultiProgress::with_draw_target(if opts.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let people = renkei_population::generate(
        opts.seed,
        opts.residents,
        &[renkei_population::SETAGAYA, renkei_population::YOKOHAMA_NAKA],
        opts.today,
    );
    let mut rng = fastrand::Rng::with_seed(opts.seed ^ 0x5eed_5eed);

    // Movers: some Setagaya families with children lived in Yokohama until
    // this year. Yokohama enrolled them then; its FY2025 tax data is theirs.
    let mover_households = renkei_population::moved_in(&people, 0, 1, &mut rng);

    // --- registration at the registry (by the municipalities)
    let pb = bar(&multi, people.len() as u64, "registering residents");
    let my_numbers =
        register_residents(net, &people, |r| mover_households.get(&r.household).cloned(), &pb).await?;
    pb.finish_with_message("registered");

    let mut persons: Vec<Person<'_>> = people
        .iter()
        .zip(my_numbers.iter())
        .map(|(r, n)| {
            let a = age_on(r.birth_date.date(), opts.today);
            let Circumstances {
                employed,
                car,
                account,
                taxpayer,
                disability,
                assistance,
            } = Circumstances::draw(&mut rng, a);
            Person {
                r,
                my_number: n.clone(),
                age: a,
                mover: mover_households.contains_key(&r.household),
                previous_address: mover_households.get(&r.household).cloned(),
                employed,
                car,
                account,
                taxpayer,
                disability,
                assistance,
                ids: HashMap::new(),
            }
        })
        .collect();
    // Dependants of the employed are insured too.
    let employed_households: std::collections::HashSet<u32> = persons
        .iter()
        .filter(|p| p.employed)
        .map(|p| p.r.household)
        .collect();

    for (i, p) in persons.iter_mut().enumerate() {
        let municipality_key = if p.r.municipality == 0 {
            SETAGAYA.key
        } else {
            YOKOHAMA.key
        };
        p.ids.insert(
            municipality_key,
            format!("{}-{i:07}", &municipality_key[..1].to_uppercase()),
        );
        if p.mover {
            p.ids.insert(YOKOHAMA.key, format!("Y-{i:07}"));
        }
        if p.age >= 20 {
            p.ids.insert(PENSION.key, format!("P-{i:07}"));
        }
        if p.employed || (employed_households.contains(&p.r.household) && p.age < 20) {
            p.ids.insert(KENPO.key, format!("K-{i:07}"));
        }
        if p.car {
            p.ids.insert(VEHICLE.key, format!("V-{i:07}"));
        }
        if p.account {
            p.ids.insert(DIGITAL.key, format!("D-{i:07}"));
        }
        if p.taxpayer {
            p.ids.insert(TAX.key, format!("T-{i:07}"));
        }
    }

    // The person whose Setagaya file has a stale address: a non-mover adult.
    let stale_index = persons
        .iter()
        .position(|p| p.r.municipality == 0 && !p.mover && p.age >= 20)
        .context("no Setagaya adult to cast")?;

    // --- phase A: Yokohama enrols, movers with their old address
    let mut enrolled = BTreeMap::new();
    let mut refused = BTreeMap::new();
    let entries_for = |key: &'static str, persons: &[Person<'_>], phase_a: bool| -> Vec<EnrolPerson> {
        persons
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let id = p.ids.get(key)?;
                let address = match (key, phase_a) {
                    (k, true) if k == YOKOHAMA.key => p
                        .previous_address
                        .clone()
                        .unwrap_or_else(|| p.r.address.to_string()),
                    _ => p.r.address.to_string(),
                };
                if phase_a != (key == YOKOHAMA.key) {
                    return None;
                }
                let address = if key == SETAGAYA.key && i == stale_index {
                    // The business system never recorded the move to a new
                    // block: 1番 instead of the registered block number.
                    stale_variant(&address)
                } else {
                    address
                };
                Some(enrol_entry(p, id, &address))
            })
            .collect()
    };
    let yokohama_entries = entries_for(YOKOHAMA.key, &persons, true);
    let pb = bar(&multi, yokohama_entries.len() as u64, "enrolling 横浜市");
    let res = enrol_all(net.node(YOKOHAMA.key).local.clone(), yokohama_entries, pb).await?;
    enrolled.insert(YOKOHAMA.key, res.enrolled.len());
    refused.insert(YOKOHAMA.key, res.refused);

    // --- the movers move: the registry records the new address
    let movers: Vec<&Person<'_>> = persons.iter().filter(|p| p.mover).collect();
    let pb = bar(&multi, movers.len() as u64, "moving to 世田谷区");
    for p in &movers {
        let _: EventRecorded = net
            .registry_admin
            .post(
                "/admin/v1/residents/address",
                &AddressChange {
                    my_number: p.my_number.clone(),
                    address: p.r.address.to_string(),
                    moved_on: None,
                },
            )
            .await
            .context("recording a change of address")?;
        pb.inc(1);
    }
    pb.finish_with_message("addresses changed");

    // --- phase B: everyone else enrols, concurrently per institution
    let mut tasks = Vec::new();
    for spec in [SETAGAYA, PENSION, KENPO, VEHICLE, DIGITAL, TAX] {
        let entries = entries_for(spec.key, &persons, false);
        let pb = bar(&multi, entries.len() as u64, &format!("enrolling {}", spec.name));
        let client = net.node(spec.key).local.clone();
        tasks.push((spec.key, tokio::spawn(enrol_all(client, entries, pb))));
    }
    for (key, t) in tasks {
        let res = t.await.context("enrolment task")??;
        enrolled.insert(key, res.enrolled.len());
        refused.insert(key, res.refused);
    }

    // --- imports
    let import_dir = net.options.data_dir.join("import");
    renkei_pki::provision::private_dir(&import_dir)?;
    let mut imported = BTreeMap::new();
    let files = build_imports(&persons, stale_index, &mut rng);
    let pb = bar(
        &multi,
        files.iter().map(|f| f.2.len() as u64).sum(),
        "importing items",
    );
    for (key, name, text) in &files {
        let path = import_dir.join(format!("{key}-{name}"));
        // The business systems' exports hold personal data: the owner's alone.
        renkei_pki::write_private(&path, text.as_bytes(), renkei_pki::WriteMode::Replace)
            .with_context(|| format!("writing {}", path.display()))?;
        let format = if name.ends_with(".csv") { "csv" } else { "jsonl" };
        let res: ImportResult = net
            .node(key)
            .local
            .post_bytes(
                &format!("/local/v1/imports?format={format}"),
                text.clone().into_bytes(),
                "application/octet-stream",
            )
            .await
            .with_context(|| format!("importing {}", path.display()))?;
        *imported.entry(*key).or_insert(0) += res.imported;
        pb.inc(text.len() as u64);
    }
    pb.finish_with_message("imported");

    let cast = cast(&persons, stale_index)?;
    let inhabitants = persons
        .iter()
        .map(|p| Inhabitant {
            my_number: p.my_number.clone(),
            name: p.r.name.to_string(),
            kana: p.r.kana.to_string(),
            birth_date: p.r.birth_date.to_string(),
            address: p.r.address.to_string(),
            age: p.age,
            household: p.r.household,
            relationship: p.r.relationship.as_str(),
            employed: p.employed,
            disability: p.disability,
            ids: p.ids.iter().map(|(k, v)| (*k, v.clone())).collect(),
        })
        .collect();
    Ok(Country {
        residents: people.len(),
        movers: movers.len(),
        enrolled,
        refused,
        imported,
        cast,
        my_numbers,
        people: inhabitants,
    })
}

/// The address with its block number changed: what a business system that
/// missed a move within the city still has on file.
fn stale_variant(address: &str) -> String {
    if let Some(i) = address.find('番') {
        let head = &address[..i];
        let start = head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        if start < i {
            let block: u32 = head[start..].parse().unwrap_or(0);
            return format!("{}{}{}", &head[..start], block + 1, &address[i..]);
        }
    }
    format!("{address}1番")
}

fn id_of<'a>(p: &'a Person<'_>, key: &str) -> Option<&'a String> {
    p.ids.get(key)
}

fn cast(persons: &[Person<'_>], stale: usize) -> Result<Cast> {
    let find = |what: &str, f: &dyn Fn(&Person<'_>) -> Option<(String, String)>| {
        persons
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != stale)
            .find_map(|(_, p)| f(p))
            .with_context(|| format!("no {what} in this population; use more residents"))
    };
    let pair = |p: &Person<'_>, a: &str, b: &str| Some((id_of(p, a)?.clone(), id_of(p, b)?.clone()));
    Ok(Cast {
        // A working parent, so the demo shows a real income (any adult
        // mover if none works).
        mover: find("mover parent", &|p| {
            (p.mover && p.age >= 20 && p.employed)
                .then(|| pair(p, SETAGAYA.key, YOKOHAMA.key))
                .flatten()
        })
        .or_else(|_| {
            find("mover parent", &|p| {
                (p.mover && p.age >= 20)
                    .then(|| pair(p, SETAGAYA.key, YOKOHAMA.key))
                    .flatten()
            })
        })?,
        pensioner: find("pensioner", &|p| {
            (p.age >= 65)
                .then(|| pair(p, SETAGAYA.key, PENSION.key))
                .flatten()
        })?,
        contributor: find("contributor", &|p| {
            (p.age < 60 && !p.mover)
                .then(|| pair(p, PENSION.key, SETAGAYA.key))
                .flatten()
        })?,
        // From 35, so that the insurer also holds their checkups.
        insured: find("insured worker", &|p| {
            (p.employed && !p.mover && p.age >= 35)
                .then(|| pair(p, KENPO.key, SETAGAYA.key))
                .flatten()
        })?,
        driver: find("driver", &|p| {
            id_of(p, VEHICLE.key).map(|v| (v.clone(), String::new()))
        })?
        .0,
        account_holder: find("account holder", &|p| pair(p, SETAGAYA.key, DIGITAL.key))?,
        taxpayer: find("taxpayer", &|p| {
            (!p.mover).then(|| pair(p, TAX.key, SETAGAYA.key)).flatten()
        })?,
        stale: persons[stale]
            .ids
            .get(SETAGAYA.key)
            .cloned()
            .context("the stale person has no Setagaya id")?,
    })
}

fn jsonl(rows: &[serde_json::Value]) -> String {
    let mut s = String::new();
    for r in rows {
        let _ = writeln!(s, "{r}");
    }
    s
}

/// Each institution's items as import files: (institution, file name, text).
fn build_imports(
    persons: &[Person<'_>],
    stale: usize,
    rng: &mut fastrand::Rng,
) -> Vec<(&'static str, String, String)> {
    let mut files = Vec::new();
    let vaccines = [
        "四種混合",
        "MR（麻しん風しん）",
        "水痘",
        "日本脳炎",
        "BCG",
        "ヒブ",
    ];
    for key in [SETAGAYA.key, YOKOHAMA.key] {
        let mut income = Vec::new();
        let mut household = Vec::new();
        let mut child_allowance = Vec::new();
        let mut vaccination = Vec::new();
        let mut disability = Vec::new();
        let mut assistance = Vec::new();
        // Who pays resident tax here, for the households' rows below (drawn
        // once, with the income rows: the random sequence is unchanged).
        let mut exempt: HashMap<usize, bool> = HashMap::new();
        for (i, p) in persons.iter().enumerate() {
            let Some(id) = p.ids.get(key) else { continue };
            if key == SETAGAYA.key && i == stale {
                continue; // never enrolled: its import rows would be refused
            }
            // Whoever assessed FY2025 (residents on 2025-01-01) holds it.
            let assessed_here = if key == YOKOHAMA.key { true } else { !p.mover };
            let lives_here = key == SETAGAYA.key || !p.mover;
            if p.age >= 18 && assessed_here {
                let tax = ResidentTax::draw(rng, p.employed, p.age);
                exempt.insert(i, tax.tax_exempt);
                income.push(
                    json!({"local_id": id, "item": "resident_tax_income", "fiscal_year": 2025, "value": {
                        "taxable_income": tax.taxable_income,
                        "income_kind": tax.income_kind.label(),
                        "municipal_tax": tax.municipal_tax,
                        "prefectural_tax": tax.prefectural_tax,
                        "tax_exempt": tax.tax_exempt,
                    }}),
                );
            }
            if !lives_here {
                continue;
            }
            household.push(json!({"local_id": id, "item": "household", "value": {
                "household_number": format!("{:08}", p.r.household),
                "relationship": p.r.relationship.register_label(p.r.sex),
            }}));
            if p.r.relationship == Relationship::Head {
                let children = persons
                    .iter()
                    .filter(|c| {
                        c.r.household == p.r.household
                            && c.r.relationship == Relationship::Child
                            && c.age < 18
                    })
                    .count();
                if children > 0 {
                    child_allowance.push(
                        json!({"local_id": id, "item": "child_allowance_status", "value": {
                            "eligible_children": children,
                            "monthly_amount": 10_000 * children,
                            "status": "受給中",
                        }}),
                    );
                }
            }
            if p.age < 12 {
                let records: Vec<_> = vaccines
                    .iter()
                    .take(1 + (p.age.max(0) as usize).min(vaccines.len() - 1))
                    .map(|v| json!({"vaccine": v, "dose": 1}))
                    .collect();
                vaccination.push(
                    json!({"local_id": id, "item": "vaccination_records", "value": {"records": records}}),
                );
            }
            if p.disability {
                disability.push(
                    json!({"local_id": id, "item": "disability_certificate", "value": {
                        "certificate": "身体障害者手帳", "grade": rng.u8(1..7),
                    }}),
                );
            }
            if p.assistance {
                assistance.push(json!({"local_id": id, "item": "public_assistance_status", "value": {"status": "保護中"}}));
            }
        }
        // The benefit office's household files: each member's birth date and
        // resident-tax status, and the children in the head's care.
        let mut household_tax = Vec::new();
        let mut household_children = Vec::new();
        for (i, p) in persons.iter().enumerate() {
            let Some(id) = p.ids.get(key) else { continue };
            let lives_here = key == SETAGAYA.key || !p.mover;
            if (key == SETAGAYA.key && i == stale) || !lives_here || p.r.relationship != Relationship::Head {
                continue;
            }
            let members: Vec<(usize, &Person<'_>)> = persons
                .iter()
                .enumerate()
                .filter(|(_, m)| m.r.household == p.r.household && (key == SETAGAYA.key || !m.mover))
                .collect();
            household_tax.push(
                json!({"local_id": id, "item": "household_resident_tax", "fiscal_year": 2025, "value": {
                    "members": members.iter().map(|(j, m)| json!({
                        "birth_date": m.r.birth_date.to_string(),
                        // Not assessed here (a minor, or assessed elsewhere): pays nothing here.
                        "tax_exempt": exempt.get(j).copied().unwrap_or(true),
                    })).collect::<Vec<_>>(),
                }}),
            );
            let children: Vec<_> = members
                .iter()
                .filter(|(_, m)| m.r.relationship == Relationship::Child && m.age < 22)
                .map(|(_, m)| json!({"birth_date": m.r.birth_date.to_string()}))
                .collect();
            if !children.is_empty() {
                let dependants = members
                    .iter()
                    .filter(|(_, m)| !m.employed && m.r.relationship != Relationship::Head)
                    .count();
                household_children.push(json!({"local_id": id, "item": "household_children", "value": {
                    "children": children,
                    "dependants": dependants,
                }}));
            }
        }
        for (name, rows) in [
            ("resident_tax_income.jsonl", income),
            ("household_resident_tax.jsonl", household_tax),
            ("household_children.jsonl", household_children),
            ("household.jsonl", household),
            ("child_allowance_status.jsonl", child_allowance),
            ("vaccination_records.jsonl", vaccination),
            ("disability_certificate.jsonl", disability),
            ("public_assistance_status.jsonl", assistance),
        ] {
            if !rows.is_empty() {
                files.push((key, name.to_owned(), jsonl(&rows)));
            }
        }
    }
    let pensions: Vec<_> = persons
        .iter()
        .filter(|p| p.age >= 65)
        .filter_map(|p| p.ids.get(PENSION.key))
        .map(|id| {
            json!({"local_id": id, "item": "pension_benefits", "fiscal_year": 2025, "value": {
                "kind": "老齢基礎年金", "annual_amount": rng.i64(600..1_400) * 1000,
            }})
        })
        .collect();
    files.push((PENSION.key, "pension_benefits.jsonl".into(), jsonl(&pensions)));
    // The tax agency's totals of the employers' monthly earnings reports,
    // April to September 2025; every 37th earner's fell by 60 % in
    // September (the emergency payment's people). No random draw: the
    // sequence the rest of the country is drawn from is unchanged.
    let earnings: Vec<_> = persons
        .iter()
        .enumerate()
        .filter(|(_, p)| p.employed)
        .filter_map(|(i, p)| p.ids.get(TAX.key).map(|id| (i, id)))
        .map(|(i, id)| {
            let base = 220_000 + (i as i64 % 20) * 15_000;
            let months: Vec<_> = (4..=9)
                .map(|m| {
                    let pay = if m == 9 && i % 37 == 0 {
                        base * 40 / 100
                    } else {
                        base
                    };
                    json!({"period": format!("2025-{m:02}"), "gross_pay": pay})
                })
                .collect();
            json!({"local_id": id, "item": "monthly_earnings_summary", "value": {"months": months}})
        })
        .collect();
    if !earnings.is_empty() {
        files.push((TAX.key, "monthly_earnings_summary.jsonl".into(), jsonl(&earnings)));
    }
    // The insurer's extract comes as CSV, as many such systems export it.
    let mut csv = String::from("local_id,item,insurer_number,symbol,number,status,acquired_on\n");
    for p in persons {
        if let Some(id) = p.ids.get(KENPO.key) {
            let _ = writeln!(
                csv,
                "{id},health_insurance_qualification,01130012,{},{},{},{}",
                rng.u32(1000..9999),
                rng.u32(1..999),
                if p.employed {
                    "被保険者"
                } else {
                    "被扶養者"
                },
                format_args!("20{:02}-04-01", rng.u8(10..25)),
            );
        }
    }
    files.push((KENPO.key, "health_insurance_qualification.csv".into(), csv));
    // Specific health checkups (特定健診) of insured adults, five fiscal
    // years, drifting as real values do.
    let mut checkups = Vec::new();
    for p in persons.iter().filter(|p| p.age >= 35 && p.employed) {
        let Some(id) = p.ids.get(KENPO.key) else { continue };
        let height = if p.r.sex == renkei_ids::Sex::Female {
            rng.f64() * 15.0 + 150.0
        } else {
            rng.f64() * 15.0 + 163.0
        };
        let mut weight = height - 105.0 + rng.f64() * 20.0 - 5.0;
        let mut systolic = 110.0 + rng.f64() * 25.0 + f64::from(p.age - 35) * 0.4;
        let mut hba1c = 5.1 + rng.f64() * 0.6;
        let mut ldl = 95.0 + rng.f64() * 50.0;
        for fy in 2021..=2025 {
            weight += rng.f64() * 2.4 - 0.8;
            systolic += rng.f64() * 5.0 - 1.8;
            hba1c += rng.f64() * 0.16 - 0.05;
            ldl += rng.f64() * 12.0 - 5.0;
            let bmi = weight / (height / 100.0).powi(2);
            checkups.push(
                json!({"local_id": id, "item": "health_checkup", "fiscal_year": fy, "value": {
                    "examined_on": format!("{fy}-{:02}-{:02}", rng.u8(5..12), rng.u8(1..28)),
                    "height_cm": (height * 10.0).round() / 10.0,
                    "weight_kg": (weight * 10.0).round() / 10.0,
                    "bmi": (bmi * 10.0).round() / 10.0,
                    "systolic_bp": systolic.round(),
                    "diastolic_bp": (systolic * 0.63).round(),
                    "hba1c": (hba1c * 10.0).round() / 10.0,
                    "ldl_cholesterol": ldl.round(),
                }}),
            );
        }
    }
    files.push((KENPO.key, "health_checkup.jsonl".into(), jsonl(&checkups)));
    let banks = [
        ("0005", "三菱ＵＦＪ銀行"),
        ("0009", "三井住友銀行"),
        ("0001", "みずほ銀行"),
        ("9900", "ゆうちょ銀行"),
    ];
    let accounts: Vec<_> = persons
        .iter()
        .filter_map(|p| p.ids.get(DIGITAL.key).map(|id| (id, p)))
        .map(|(id, p)| {
            let (code, bank) = banks[rng.usize(..banks.len())];
            json!({"local_id": id, "item": "public_fund_account", "value": {
                "bank_code": code, "bank": bank, "branch_code": format!("{:03}", rng.u16(1..999)),
                "account_type": "普通", "account_number_last4": format!("{:04}", rng.u16(0..9999)),
                "holder_kana": p.r.kana.to_string(),
            }})
        })
        .collect();
    files.push((DIGITAL.key, "public_fund_account.jsonl".into(), jsonl(&accounts)));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_variant_changes_only_the_block() {
        let a = "東京都世田谷区太子堂四丁目12番3号";
        let b = stale_variant(a);
        assert_ne!(a, b);
        assert!(b.starts_with("東京都世田谷区太子堂四丁目"));
        assert!(b.ends_with("番3号"));
        assert!(renkei_ids::Address::parse(&b).is_ok());
        let c = stale_variant("東京都世田谷区太子堂四丁目1番3号　メゾン101号室");
        assert_ne!(c, "東京都世田谷区太子堂四丁目1番3号　メゾン101号室");
    }
}
