//! A benefit programme: one versioned TOML file saying its legal basis,
//! the office work it is run under, the items it needs (and where in each
//! item's document the value is), its parameters with the dates they hold
//! from, the eligibility rule and the amount formula, whether the person
//! must apply or is paid unless they decline, and its own test cases.
//!
//! A file is checked whole when it loads; the first fault is reported
//! with its line, column and field.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use time::Date;
use toml::Spanned;

use crate::lang::{self, EvalError, Expr, Names, Type, Value};

/// Where a programme file is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {field}: {message}")]
pub struct ProgrammeError {
    pub line: usize,
    pub column: usize,
    /// The field at fault, as a TOML path (`rules.eligible`,
    /// `parameters.amount.values[1]`).
    pub field: String,
    pub message: String,
}

/// Whether the person applies or is paid unless they decline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Application {
    /// The person applies within `window_days` of the notice.
    Required { window_days: u32 },
    /// The person is offered the payment and paid when `decline_days` have
    /// passed unless they declined or changed the account.
    Automatic { decline_days: u32 },
}

/// Who a programme pays: each eligible person, or a household once
/// (through its head).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payee {
    Person,
    Household,
}

/// One value a programme needs: read from an item's document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub name: String,
    /// The catalog item it comes from.
    pub item: String,
    /// For periodic items: the fiscal year relative to the evaluation date
    /// (`0` this fiscal year, `-1` the previous one).
    pub fiscal_year_offset: Option<i32>,
    /// A JSON pointer into the item's document; one `*` segment reads a
    /// list.
    pub path: String,
    pub ty: Type,
    /// The value when the provider has no such item for the person (no
    /// resident-tax record: no income assessed).
    pub default: Option<Value>,
}

/// A parameter: its values, each from a date (until the next one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    pub ty: Type,
    /// Sorted by date, each `(from, value)`.
    pub values: Vec<(Date, Value)>,
}

/// One of a programme's own test cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    pub name: String,
    pub on: Date,
    pub inputs: HashMap<String, Value>,
    pub eligible: bool,
    pub amount: Option<i64>,
}

/// A loaded, checked programme.
#[derive(Debug, Clone, PartialEq)]
pub struct Programme {
    pub id: String,
    pub version: u32,
    pub name_ja: String,
    pub name_en: String,
    pub legal_basis: String,
    pub office_work: String,
    pub application: Application,
    pub payee: Payee,
    /// The first and last day on which the programme finds people.
    pub from: Date,
    pub until: Option<Date>,
    pub inputs: Vec<Input>,
    pub parameters: Vec<Parameter>,
    eligible: Expr,
    amount: Expr,
    pub eligible_text: String,
    pub amount_text: String,
    pub tests: Vec<TestCase>,
}

/// What an evaluation found, with what it was found from: enough to
/// explain the decision and to replay it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub programme: String,
    pub version: u32,
    pub on: Date,
    pub eligible: bool,
    /// 0 when not eligible.
    pub amount: i64,
    pub inputs: BTreeMap<String, Value>,
    pub parameters: BTreeMap<String, Value>,
}

/// Why a programme could not be evaluated for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvaluationError {
    #[error("{on} is outside the programme's dates")]
    OutOfDates { on: String },
    #[error("input `{0}` is missing")]
    MissingInput(String),
    #[error("input `{name}` must be a {want}, not {got}")]
    WrongInput { name: String, want: Type, got: String },
    #[error("parameter `{name}` has no value on {on}")]
    NoParameterValue { name: String, on: String },
    #[error("{field}: {source}")]
    Rule { field: &'static str, source: EvalError },
}

// ----------------------------------------------------------- file format

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    programme: Spanned<String>,
    version: Spanned<i64>,
    name_ja: Spanned<String>,
    name_en: Spanned<String>,
    legal_basis: Spanned<String>,
    office_work: Spanned<String>,
    application: Spanned<String>,
    #[serde(default)]
    window_days: Option<Spanned<i64>>,
    #[serde(default)]
    decline_days: Option<Spanned<i64>>,
    payee: Spanned<String>,
    from: Spanned<String>,
    #[serde(default)]
    until: Option<Spanned<String>>,
    #[serde(default)]
    inputs: BTreeMap<String, Spanned<InputFile>>,
    #[serde(default)]
    parameters: BTreeMap<String, Spanned<ParameterFile>>,
    rules: RulesFile,
    #[serde(default)]
    tests: Vec<Spanned<TestFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputFile {
    item: String,
    #[serde(default)]
    fiscal_year: Option<i64>,
    path: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    default: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParameterFile {
    #[serde(rename = "type")]
    ty: String,
    values: Vec<Spanned<ValueFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValueFile {
    from: String,
    value: toml::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    eligible: Spanned<String>,
    amount: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    name: String,
    on: String,
    #[serde(default)]
    inputs: BTreeMap<String, toml::Value>,
    eligible: bool,
    #[serde(default)]
    amount: Option<i64>,
}

/// Names a rule may use besides the inputs and parameters.
pub const TODAY: &str = "today";

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => s.clone().into(),
        toml::Value::Integer(n) => (*n).into(),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into),
        toml::Value::Boolean(b) => (*b).into(),
        toml::Value::Datetime(d) => d.to_string().into(),
        toml::Value::Array(a) => a.iter().map(toml_to_json).collect(),
        toml::Value::Table(t) => t.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect(),
    }
}

/// Line and column (from 1) of byte `at` in `src`.
fn place(src: &str, at: usize) -> (usize, usize) {
    let at = at.min(src.len());
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The TOML path of the key (or table header) on the line of byte `at`,
/// under the nearest table header above it; `file` if there is none.
fn field_at(text: &str, at: usize) -> String {
    let at = at.min(text.len());
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("").trim();
    let header = |l: &str| {
        l.strip_prefix('[').map(|h| {
            h.trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
    };
    if let Some(h) = header(line) {
        return h;
    }
    let Some((key, _)) = line.split_once('=') else {
        return "file".into();
    };
    let key = key.trim();
    match text[..start].lines().rev().find_map(|l| header(l.trim())) {
        Some(h) => format!("{h}.{key}"),
        None => key.to_owned(),
    }
}

struct Source<'a> {
    text: &'a str,
}

impl Source<'_> {
    fn error(&self, at: usize, field: impl Into<String>, message: impl Into<String>) -> ProgrammeError {
        let (line, column) = place(self.text, at);
        ProgrammeError {
            line,
            column,
            field: field.into(),
            message: message.into(),
        }
    }

    /// Where the text of a string value starts: after its quotes.
    fn string_start(&self, s: &Spanned<String>) -> usize {
        let span = s.span();
        self.text
            .get(span.clone())
            .and_then(|raw| raw.find(s.get_ref().as_str()))
            .map_or(span.start, |i| span.start + i)
    }

    fn expression(
        &self,
        s: &Spanned<String>,
        field: &str,
        names: &Names,
        want: Type,
    ) -> Result<Expr, ProgrammeError> {
        let start = self.string_start(s);
        let at = |e: lang::LangError| self.error(start + e.at, field, e.message);
        let e = lang::parse(s.get_ref()).map_err(at)?;
        let t = lang::check(&e, names).map_err(at)?;
        if t != want {
            return Err(self.error(start, field, format!("must give a {want}, not a {t}")));
        }
        Ok(e)
    }
}

fn date_field(src: &Source<'_>, s: &Spanned<String>, field: &str) -> Result<Date, ProgrammeError> {
    lang::parse_date(s.get_ref()).map_err(|m| src.error(s.span().start, field, m))
}

fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Programme {
    /// Load and check a programme file.
    pub fn parse(text: &str) -> Result<Self, ProgrammeError> {
        let src = Source { text };
        let file: File = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            src.error(at, field_at(text, at), e.message())
        })?;
        let text_field = |s: &Spanned<String>, field: &str, max: usize| -> Result<String, ProgrammeError> {
            let t = s.get_ref().trim();
            if t.is_empty() || t.chars().count() > max {
                return Err(src.error(s.span().start, field, format!("give 1 to {max} characters")));
            }
            Ok(t.to_owned())
        };
        let id = file.programme.get_ref().clone();
        if !name_ok(&id) {
            return Err(src.error(
                file.programme.span().start,
                "programme",
                "an id of lower-case letters, digits and _ (starting with a letter)",
            ));
        }
        let version = u32::try_from(*file.version.get_ref())
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| src.error(file.version.span().start, "version", "a positive whole number"))?;
        let days = |d: &Option<Spanned<i64>>, field: &str| -> Result<Option<u32>, ProgrammeError> {
            d.as_ref()
                .map(|d| {
                    u32::try_from(*d.get_ref())
                        .ok()
                        .filter(|n| (1..=366).contains(n))
                        .ok_or_else(|| src.error(d.span().start, field, "between 1 and 366 days"))
                })
                .transpose()
        };
        let window = days(&file.window_days, "window_days")?;
        let decline = days(&file.decline_days, "decline_days")?;
        let application = match (file.application.get_ref().as_str(), window, decline) {
            ("required", Some(window_days), None) => Application::Required { window_days },
            ("automatic", None, Some(decline_days)) => Application::Automatic { decline_days },
            ("required", _, _) => {
                return Err(src.error(
                    file.application.span().start,
                    "application",
                    "a required application needs window_days and no decline_days",
                ));
            }
            ("automatic", _, _) => {
                return Err(src.error(
                    file.application.span().start,
                    "application",
                    "an automatic payment needs decline_days and no window_days",
                ));
            }
            (other, _, _) => {
                return Err(src.error(
                    file.application.span().start,
                    "application",
                    format!("{other:?} is not required or automatic"),
                ));
            }
        };
        let payee = match file.payee.get_ref().as_str() {
            "person" => Payee::Person,
            "household" => Payee::Household,
            other => {
                return Err(src.error(
                    file.payee.span().start,
                    "payee",
                    format!("{other:?} is not person or household"),
                ));
            }
        };
        let from = date_field(&src, &file.from, "from")?;
        let until = file
            .until
            .as_ref()
            .map(|u| date_field(&src, u, "until"))
            .transpose()?;
        if let (Some(u), Some(span)) = (until, file.until.as_ref())
            && u < from
        {
            return Err(src.error(span.span().start, "until", "is before from"));
        }

        let mut names = Names::new();
        names.insert(TODAY.to_owned(), Type::DATE);
        let mut inputs = Vec::new();
        for (name, spanned) in &file.inputs {
            let at = spanned.span().start;
            let field = format!("inputs.{name}");
            let i = spanned.get_ref();
            if !name_ok(name) || name == TODAY {
                return Err(src.error(
                    at,
                    &field,
                    "a name of lower-case letters, digits and _ (not today)",
                ));
            }
            if !name_ok(&i.item) {
                return Err(src.error(
                    at,
                    format!("{field}.item"),
                    format!("{:?} is not an item code", i.item),
                ));
            }
            let ty = Type::parse(&i.ty).ok_or_else(|| {
                src.error(
                    at,
                    format!("{field}.type"),
                    format!("{:?} is not int, bool, date, text or list<…> of one", i.ty),
                )
            })?;
            let stars = i.path.split('/').filter(|s| *s == "*").count();
            if !i.path.starts_with('/') || stars > 1 || (stars == 1) != matches!(ty, Type::List(_)) {
                return Err(src.error(
                    at,
                    format!("{field}.path"),
                    "a JSON pointer (\"/…\"), with one `*` segment exactly when the type is a list",
                ));
            }
            let fiscal_year_offset = i
                .fiscal_year
                .map(|y| {
                    i32::try_from(y)
                        .ok()
                        .filter(|y| (-5..=0).contains(y))
                        .ok_or_else(|| {
                            src.error(
                                at,
                                format!("{field}.fiscal_year"),
                                "between -5 and 0 (relative to the evaluation's fiscal year)",
                            )
                        })
                })
                .transpose()?;
            let default = i
                .default
                .as_ref()
                .map(|d| {
                    Value::from_json(ty, &toml_to_json(d))
                        .map_err(|m| src.error(at, format!("{field}.default"), m))
                })
                .transpose()?;
            names.insert(name.clone(), ty);
            inputs.push(Input {
                name: name.clone(),
                item: i.item.clone(),
                fiscal_year_offset,
                path: i.path.clone(),
                ty,
                default,
            });
        }
        let mut parameters = Vec::new();
        for (name, spanned) in &file.parameters {
            let at = spanned.span().start;
            let field = format!("parameters.{name}");
            let p = spanned.get_ref();
            if !name_ok(name) || name == TODAY || names.contains_key(name) {
                return Err(src.error(at, &field, "a new name of lower-case letters, digits and _"));
            }
            let ty = Type::parse(&p.ty)
                .filter(|t| matches!(t, Type::Scalar(_)))
                .ok_or_else(|| {
                    src.error(
                        at,
                        format!("{field}.type"),
                        format!("{:?} is not int, bool, date or text", p.ty),
                    )
                })?;
            if p.values.is_empty() {
                return Err(src.error(at, format!("{field}.values"), "give at least one value"));
            }
            let mut values: Vec<(Date, Value)> = Vec::new();
            for (k, v) in p.values.iter().enumerate() {
                let vat = v.span().start;
                let vfield = format!("{field}.values[{k}]");
                let from = lang::parse_date(&v.get_ref().from)
                    .map_err(|m| src.error(vat, format!("{vfield}.from"), m))?;
                if values.last().is_some_and(|(d, _)| *d >= from) {
                    return Err(src.error(
                        vat,
                        format!("{vfield}.from"),
                        "values must be in date order, one per date",
                    ));
                }
                let value = Value::from_json(ty, &toml_to_json(&v.get_ref().value))
                    .map_err(|m| src.error(vat, format!("{vfield}.value"), m))?;
                values.push((from, value));
            }
            names.insert(name.clone(), ty);
            parameters.push(Parameter {
                name: name.clone(),
                ty,
                values,
            });
        }
        let eligible = src.expression(&file.rules.eligible, "rules.eligible", &names, Type::BOOL)?;
        let amount = src.expression(&file.rules.amount, "rules.amount", &names, Type::INT)?;

        let mut tests = Vec::new();
        for (k, t) in file.tests.iter().enumerate() {
            let at = t.span().start;
            let field = format!("tests[{k}]");
            let tf = t.get_ref();
            let on = lang::parse_date(&tf.on).map_err(|m| src.error(at, format!("{field}.on"), m))?;
            let mut values = HashMap::new();
            for (name, v) in &tf.inputs {
                let input = inputs.iter().find(|i| &i.name == name).ok_or_else(|| {
                    src.error(
                        at,
                        format!("{field}.inputs.{name}"),
                        "is not an input of the programme",
                    )
                })?;
                let value = Value::from_json(input.ty, &toml_to_json(v))
                    .map_err(|m| src.error(at, format!("{field}.inputs.{name}"), m))?;
                values.insert(name.clone(), value);
            }
            // An input left out is the provider holding no such item: its
            // default, which it must then have.
            for i in &inputs {
                if !values.contains_key(&i.name) {
                    let d = i.default.clone().ok_or_else(|| {
                        src.error(
                            at,
                            format!("{field}.inputs.{}", i.name),
                            "is missing (the input has no default)",
                        )
                    })?;
                    values.insert(i.name.clone(), d);
                }
            }
            if tf.eligible && tf.amount.is_none() {
                return Err(src.error(
                    at,
                    format!("{field}.amount"),
                    "an eligible case states its amount",
                ));
            }
            tests.push(TestCase {
                name: tf.name.clone(),
                on,
                inputs: values,
                eligible: tf.eligible,
                amount: tf.amount,
            });
        }
        Ok(Self {
            id,
            version,
            name_ja: text_field(&file.name_ja, "name_ja", 200)?,
            name_en: text_field(&file.name_en, "name_en", 200)?,
            legal_basis: text_field(&file.legal_basis, "legal_basis", 500)?,
            office_work: {
                let w = file.office_work.get_ref();
                if !name_ok(w) {
                    return Err(src.error(
                        file.office_work.span().start,
                        "office_work",
                        "an office work code",
                    ));
                }
                w.clone()
            },
            application,
            payee,
            from,
            until,
            inputs,
            parameters,
            eligible,
            amount,
            eligible_text: file.rules.eligible.get_ref().clone(),
            amount_text: file.rules.amount.get_ref().clone(),
            tests,
        })
    }

    /// The value of each parameter on `on`.
    pub fn parameters_on(&self, on: Date) -> Result<BTreeMap<String, Value>, EvaluationError> {
        self.parameters
            .iter()
            .map(|p| {
                p.values
                    .iter()
                    .rev()
                    .find(|(from, _)| *from <= on)
                    .map(|(_, v)| (p.name.clone(), v.clone()))
                    .ok_or_else(|| EvaluationError::NoParameterValue {
                        name: p.name.clone(),
                        on: lang::format_date(on),
                    })
            })
            .collect()
    }

    /// Evaluate for one person (or household) on `on`, from the values of
    /// every input.
    pub fn evaluate(&self, on: Date, inputs: &HashMap<String, Value>) -> Result<Evaluation, EvaluationError> {
        if on < self.from || self.until.is_some_and(|u| on > u) {
            return Err(EvaluationError::OutOfDates {
                on: lang::format_date(on),
            });
        }
        let mut values: HashMap<String, Value> = HashMap::new();
        let mut used = BTreeMap::new();
        for i in &self.inputs {
            let v = inputs
                .get(&i.name)
                .ok_or_else(|| EvaluationError::MissingInput(i.name.clone()))?;
            if v.type_of() != i.ty {
                return Err(EvaluationError::WrongInput {
                    name: i.name.clone(),
                    want: i.ty,
                    got: v.to_string(),
                });
            }
            values.insert(i.name.clone(), v.clone());
            used.insert(i.name.clone(), v.clone());
        }
        let parameters = self.parameters_on(on)?;
        values.extend(parameters.clone());
        values.insert(TODAY.to_owned(), Value::Date(on));
        let eligible = match lang::eval(&self.eligible, &values) {
            Ok(Value::Bool(b)) => b,
            Ok(other) => unreachable!("checked as a bool at load: {other}"),
            Err(source) => {
                return Err(EvaluationError::Rule {
                    field: "rules.eligible",
                    source,
                });
            }
        };
        let amount = if eligible {
            match lang::eval(&self.amount, &values) {
                Ok(Value::Int(n)) => n,
                Ok(other) => unreachable!("checked as an int at load: {other}"),
                Err(source) => {
                    return Err(EvaluationError::Rule {
                        field: "rules.amount",
                        source,
                    });
                }
            }
        } else {
            0
        };
        Ok(Evaluation {
            programme: self.id.clone(),
            version: self.version,
            on,
            eligible,
            amount,
            inputs: used,
            parameters,
        })
    }

    /// Run the programme's own test cases: each failure says what was
    /// expected and what came out.
    pub fn run_tests(&self) -> Vec<TestOutcome> {
        self.tests
            .iter()
            .map(|t| {
                let failure = match self.evaluate(t.on, &t.inputs) {
                    Err(e) => Some(format!("evaluation failed: {e}")),
                    Ok(ev) if ev.eligible != t.eligible => Some(format!(
                        "expected {}, got {}",
                        if t.eligible { "eligible" } else { "not eligible" },
                        if ev.eligible { "eligible" } else { "not eligible" }
                    )),
                    Ok(ev) if t.amount.is_some_and(|a| a != ev.amount) => Some(format!(
                        "expected amount {}, got {}",
                        t.amount.unwrap_or_default(),
                        ev.amount
                    )),
                    Ok(_) => None,
                };
                TestOutcome {
                    name: t.name.clone(),
                    failure,
                }
            })
            .collect()
    }
}

/// One test case's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    pub name: String,
    /// What went wrong; `None` if it passed.
    pub failure: Option<String>,
}

impl Input {
    /// The input's value in `document` (the item's value for the person),
    /// or its default when the provider holds no such item (`None`).
    pub fn extract(&self, document: Option<&serde_json::Value>) -> Result<Value, String> {
        let Some(doc) = document else {
            return self.default.clone().ok_or_else(|| {
                format!(
                    "no {} for the person, and input `{}` has no default",
                    self.item, self.name
                )
            });
        };
        match self.path.split_once("/*") {
            None => {
                let v = doc
                    .pointer(&self.path)
                    .ok_or_else(|| format!("item {} has no {}", self.item, self.path))?;
                Value::from_json(self.ty, v).map_err(|m| format!("{} {}: {m}", self.item, self.path))
            }
            Some((list, rest)) => {
                let Type::List(s) = self.ty else {
                    return Err(format!("input `{}` reads a list into a {}", self.name, self.ty));
                };
                let items = doc
                    .pointer(list)
                    .and_then(serde_json::Value::as_array)
                    .ok_or_else(|| format!("item {} has no list at {list}", self.item))?;
                let values = items
                    .iter()
                    .map(|x| {
                        let v = if rest.is_empty() { Some(x) } else { x.pointer(rest) };
                        let v = v.ok_or_else(|| format!("an entry of {} {list} has no {rest}", self.item))?;
                        Value::from_json(Type::Scalar(s), v)
                            .map_err(|m| format!("{} {}: {m}", self.item, self.path))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Ok(Value::List(s, values))
            }
        }
    }
}
