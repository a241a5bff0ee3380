//! JSON Schema (draft 2020-12) validation for the document types, over the
//! keywords those schemas are written in — and no others.
//!
//! A schema is compiled once, when the document types load: a keyword this
//! module does not implement is refused then, naming where it is, so a
//! schema can never be read as stricter than it is checked (a validator
//! that ignores `patternProperties` would let through what its author
//! meant to refuse). The official JSON-Schema-Test-Suite checks the
//! keywords implemented (`tests/delivery.rs`).
//!
//! Implemented: `type`, `properties`, `required`, `additionalProperties`,
//! `items`, `minItems`, `maxItems`, `enum`, `const`, `minimum`, `maximum`,
//! `exclusiveMinimum`, `exclusiveMaximum`, `minLength`, `maxLength`,
//! `pattern`, `allOf`, `anyOf`, `oneOf`, `not`, `$ref` to `#` or
//! `#/$defs/<name>` of the same document, `$defs`, boolean schemas; the
//! annotations `$schema`, `$id`, `$comment`, `title`, `description`,
//! `default`, `examples`, `deprecated`, `readOnly`, `writeOnly` and any
//! `x-…` keyword are read and ignored. `pattern` is read by the `regex`
//! crate: ECMA-262's syntax without look-around or back-references, and
//! `\d`, `\w` match Unicode digits and letters (the document types spell
//! out `[0-9]`).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Number, Value};

/// Why a schema could not be compiled: where in it, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema {pointer}: {reason}")]
pub struct SchemaDefinitionError {
    pub pointer: String,
    pub reason: String,
}

/// Why an instance does not conform: the JSON pointer of the offending
/// value (`/entries/0/paid`; empty for the document itself) and what is
/// wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    pub pointer: String,
    pub reason: String,
}

impl fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "the document {}", self.reason)
        } else {
            write!(f, "{} {}", self.pointer, self.reason)
        }
    }
}

impl std::error::Error for SchemaViolation {}

/// How deep `$ref`s may nest while checking one value (a schema whose refs
/// loop without descending into the instance would otherwise never end).
const MAX_REF_DEPTH: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonType {
    Null,
    Boolean,
    Object,
    Array,
    Number,
    String,
    Integer,
}

impl JsonType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "null" => Self::Null,
            "boolean" => Self::Boolean,
            "object" => Self::Object,
            "array" => Self::Array,
            "number" => Self::Number,
            "string" => Self::String,
            "integer" => Self::Integer,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Boolean => "boolean",
            Self::Object => "object",
            Self::Array => "array",
            Self::Number => "number",
            Self::String => "string",
            Self::Integer => "integer",
        }
    }

    fn admits(self, v: &Value) -> bool {
        match (self, v) {
            (Self::Null, Value::Null)
            | (Self::Boolean, Value::Bool(_))
            | (Self::Object, Value::Object(_))
            | (Self::Array, Value::Array(_))
            | (Self::Number, Value::Number(_))
            | (Self::String, Value::String(_)) => true,
            // 2020-12: a number with a zero fractional part is an integer.
            (Self::Integer, Value::Number(n)) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        }
    }
}

#[derive(Debug)]
enum Node {
    Bool(bool),
    Rules(Box<Rules>),
}

#[derive(Debug, Default)]
struct Rules {
    types: Option<Vec<JsonType>>,
    properties: Vec<(String, Node)>,
    required: Vec<String>,
    additional: Option<Node>,
    items: Option<Node>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    enumeration: Option<Vec<Value>>,
    constant: Option<Value>,
    minimum: Option<Number>,
    maximum: Option<Number>,
    exclusive_minimum: Option<Number>,
    exclusive_maximum: Option<Number>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    pattern: Option<regex::Regex>,
    all_of: Vec<Node>,
    any_of: Vec<Node>,
    one_of: Vec<Node>,
    not: Option<Node>,
    reference: Option<usize>,
}

/// A compiled schema: the root and every `$defs` entry, refs resolved.
#[derive(Debug)]
pub struct Schema {
    /// `defs[0]` is the root; the others are `$defs` entries.
    defs: Vec<Node>,
}

const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "$defs",
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
];

struct Compiler<'a> {
    names: HashMap<&'a str, usize>,
}

fn refuse(pointer: &str, reason: impl Into<String>) -> SchemaDefinitionError {
    SchemaDefinitionError {
        pointer: if pointer.is_empty() {
            "#".into()
        } else {
            format!("#{pointer}")
        },
        reason: reason.into(),
    }
}

fn count(v: &Value, at: &str) -> Result<u64, SchemaDefinitionError> {
    match v {
        Value::Number(n) if JsonType::Integer.admits(v) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .ok_or_else(|| refuse(at, "must be a non-negative integer")),
        _ => Err(refuse(at, "must be a non-negative integer")),
    }
}

fn number(v: &Value, at: &str) -> Result<Number, SchemaDefinitionError> {
    match v {
        Value::Number(n) => Ok(n.clone()),
        _ => Err(refuse(at, "must be a number")),
    }
}

impl Schema {
    /// Compile `doc`, refusing any keyword not implemented here.
    pub fn compile(doc: &Value) -> Result<Self, SchemaDefinitionError> {
        let mut names = HashMap::new();
        let defs_doc = match doc.get("$defs") {
            None => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err(refuse("/$defs", "must be an object")),
        };
        if let Some(m) = defs_doc {
            for (i, name) in m.keys().enumerate() {
                names.insert(name.as_str(), i + 1);
            }
        }
        let c = Compiler { names };
        let mut defs = vec![c.node(doc, "")?];
        if let Some(m) = defs_doc {
            for (name, sub) in m {
                if sub.get("$defs").is_some() {
                    return Err(refuse(
                        &format!("/$defs/{name}/$defs"),
                        "nested $defs are not supported",
                    ));
                }
                defs.push(c.node(sub, &format!("/$defs/{name}"))?);
            }
        }
        Ok(Self { defs })
    }

    /// The first violation of `instance`, in the schema's keyword order.
    pub fn validate(&self, instance: &Value) -> Result<(), SchemaViolation> {
        let mut pointer = String::new();
        self.check(&self.defs[0], instance, &mut pointer, 0)
    }

    /// Whether `instance` conforms.
    pub fn is_valid(&self, instance: &Value) -> bool {
        self.validate(instance).is_ok()
    }

    fn check(&self, node: &Node, v: &Value, at: &mut String, depth: usize) -> Result<(), SchemaViolation> {
        let fail = |at: &str, reason: String| SchemaViolation {
            pointer: at.to_owned(),
            reason,
        };
        let rules = match node {
            Node::Bool(true) => return Ok(()),
            Node::Bool(false) => return Err(fail(at, "is not allowed here".into())),
            Node::Rules(r) => r,
        };
        if let Some(index) = rules.reference {
            if depth >= MAX_REF_DEPTH {
                return Err(fail(at, "nests schema references too deeply".into()));
            }
            self.check(&self.defs[index], v, at, depth + 1)?;
        }
        if let Some(types) = &rules.types
            && !types.iter().any(|t| t.admits(v))
        {
            let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
            return Err(fail(
                at,
                format!("must be of type {}, not {}", names.join(" or "), type_of(v)),
            ));
        }
        if let Some(c) = &rules.constant
            && !json_eq(c, v)
        {
            return Err(fail(at, format!("must be {c}")));
        }
        if let Some(e) = &rules.enumeration
            && !e.iter().any(|x| json_eq(x, v))
        {
            let list: Vec<String> = e.iter().map(Value::to_string).collect();
            return Err(fail(at, format!("must be one of {}", list.join(", "))));
        }
        match v {
            Value::Number(n) => self.check_number(rules, n, at)?,
            Value::String(s) => {
                let len = s.chars().count() as u64;
                if let Some(min) = rules.min_length
                    && len < min
                {
                    return Err(fail(at, format!("must have at least {min} characters")));
                }
                if let Some(max) = rules.max_length
                    && len > max
                {
                    return Err(fail(at, format!("must have at most {max} characters")));
                }
                if let Some(p) = &rules.pattern
                    && !p.is_match(s)
                {
                    return Err(fail(at, format!("must match the pattern {}", p.as_str())));
                }
            }
            Value::Array(items) => {
                let len = items.len() as u64;
                if let Some(min) = rules.min_items
                    && len < min
                {
                    return Err(fail(at, format!("must have at least {min} items")));
                }
                if let Some(max) = rules.max_items
                    && len > max
                {
                    return Err(fail(at, format!("must have at most {max} items")));
                }
                if let Some(item) = &rules.items {
                    for (i, x) in items.iter().enumerate() {
                        let mark = at.len();
                        at.push_str(&format!("/{i}"));
                        self.check(item, x, at, depth)?;
                        at.truncate(mark);
                    }
                }
            }
            Value::Object(map) => self.check_object(rules, map, at, depth)?,
            Value::Null | Value::Bool(_) => {}
        }
        for sub in &rules.all_of {
            self.check(sub, v, at, depth)?;
        }
        if !rules.any_of.is_empty() && !rules.any_of.iter().any(|s| self.matches(s, v, at, depth)) {
            return Err(fail(at, "matches none of the allowed forms (anyOf)".into()));
        }
        if !rules.one_of.is_empty() {
            let n = rules
                .one_of
                .iter()
                .filter(|s| self.matches(s, v, at, depth))
                .count();
            if n != 1 {
                return Err(fail(
                    at,
                    format!("must match exactly one of the allowed forms (oneOf), matches {n}"),
                ));
            }
        }
        if let Some(not) = &rules.not
            && self.matches(not, v, at, depth)
        {
            return Err(fail(at, "matches a form that is not allowed (not)".into()));
        }
        Ok(())
    }

    fn matches(&self, node: &Node, v: &Value, at: &str, depth: usize) -> bool {
        let mut scratch = at.to_owned();
        self.check(node, v, &mut scratch, depth).is_ok()
    }

    fn check_number(&self, rules: &Rules, n: &Number, at: &str) -> Result<(), SchemaViolation> {
        let fail = |reason: String| SchemaViolation {
            pointer: at.to_owned(),
            reason,
        };
        if let Some(m) = &rules.minimum
            && num_cmp(n, m) == Ordering::Less
        {
            return Err(fail(format!("must be at least {m}")));
        }
        if let Some(m) = &rules.maximum
            && num_cmp(n, m) == Ordering::Greater
        {
            return Err(fail(format!("must be at most {m}")));
        }
        if let Some(m) = &rules.exclusive_minimum
            && num_cmp(n, m) != Ordering::Greater
        {
            return Err(fail(format!("must be greater than {m}")));
        }
        if let Some(m) = &rules.exclusive_maximum
            && num_cmp(n, m) != Ordering::Less
        {
            return Err(fail(format!("must be less than {m}")));
        }
        Ok(())
    }

    fn check_object(
        &self,
        rules: &Rules,
        map: &Map<String, Value>,
        at: &mut String,
        depth: usize,
    ) -> Result<(), SchemaViolation> {
        for name in &rules.required {
            if !map.contains_key(name) {
                return Err(SchemaViolation {
                    pointer: at.clone(),
                    reason: format!("lacks the required property {name:?}"),
                });
            }
        }
        for (name, value) in map {
            let mark = at.len();
            at.push('/');
            at.push_str(&escape_pointer(name));
            match rules.properties.iter().find(|(p, _)| p == name) {
                Some((_, sub)) => self.check(sub, value, at, depth)?,
                None => match &rules.additional {
                    Some(Node::Bool(false)) => {
                        return Err(SchemaViolation {
                            pointer: at.clone(),
                            reason: "is not a property this document type has".into(),
                        });
                    }
                    Some(sub) => self.check(sub, value, at, depth)?,
                    None => {}
                },
            }
            at.truncate(mark);
        }
        Ok(())
    }
}

impl Compiler<'_> {
    fn node(&self, v: &Value, at: &str) -> Result<Node, SchemaDefinitionError> {
        let obj = match v {
            Value::Bool(b) => return Ok(Node::Bool(*b)),
            Value::Object(o) => o,
            _ => return Err(refuse(at, "a schema must be an object or a boolean")),
        };
        let mut r = Rules::default();
        for (key, value) in obj {
            let here = format!("{at}/{}", escape_pointer(key));
            match key.as_str() {
                k if ANNOTATIONS.contains(&k) || k.starts_with("x-") => {}
                "type" => {
                    let list = match value {
                        Value::String(s) => vec![s.as_str()],
                        Value::Array(a) => a
                            .iter()
                            .map(|t| t.as_str().ok_or_else(|| refuse(&here, "type names are strings")))
                            .collect::<Result<_, _>>()?,
                        _ => return Err(refuse(&here, "must be a type name or a list of them")),
                    };
                    let types = list
                        .iter()
                        .map(|t| {
                            JsonType::parse(t).ok_or_else(|| refuse(&here, format!("unknown type {t:?}")))
                        })
                        .collect::<Result<_, _>>()?;
                    r.types = Some(types);
                }
                "properties" => {
                    let m = value
                        .as_object()
                        .ok_or_else(|| refuse(&here, "must be an object"))?;
                    for (name, sub) in m {
                        let sub = self.node(sub, &format!("{here}/{}", escape_pointer(name)))?;
                        r.properties.push((name.clone(), sub));
                    }
                }
                "required" => {
                    let a = value.as_array().ok_or_else(|| refuse(&here, "must be a list"))?;
                    for n in a {
                        let n = n.as_str().ok_or_else(|| refuse(&here, "names are strings"))?;
                        r.required.push(n.to_owned());
                    }
                }
                "additionalProperties" => r.additional = Some(self.node(value, &here)?),
                "items" => r.items = Some(self.node(value, &here)?),
                "minItems" => r.min_items = Some(count(value, &here)?),
                "maxItems" => r.max_items = Some(count(value, &here)?),
                "minLength" => r.min_length = Some(count(value, &here)?),
                "maxLength" => r.max_length = Some(count(value, &here)?),
                "enum" => {
                    let a = value.as_array().ok_or_else(|| refuse(&here, "must be a list"))?;
                    r.enumeration = Some(a.clone());
                }
                "const" => r.constant = Some(value.clone()),
                "minimum" => r.minimum = Some(number(value, &here)?),
                "maximum" => r.maximum = Some(number(value, &here)?),
                "exclusiveMinimum" => r.exclusive_minimum = Some(number(value, &here)?),
                "exclusiveMaximum" => r.exclusive_maximum = Some(number(value, &here)?),
                "pattern" => {
                    let p = value.as_str().ok_or_else(|| refuse(&here, "must be a string"))?;
                    let re = regex::Regex::new(p)
                        .map_err(|e| refuse(&here, format!("is not a pattern this validator reads: {e}")))?;
                    r.pattern = Some(re);
                }
                "allOf" | "anyOf" | "oneOf" => {
                    let a = value.as_array().filter(|a| !a.is_empty());
                    let a = a.ok_or_else(|| refuse(&here, "must be a non-empty list of schemas"))?;
                    let subs = a
                        .iter()
                        .enumerate()
                        .map(|(i, s)| self.node(s, &format!("{here}/{i}")))
                        .collect::<Result<Vec<_>, _>>()?;
                    match key.as_str() {
                        "allOf" => r.all_of = subs,
                        "anyOf" => r.any_of = subs,
                        _ => r.one_of = subs,
                    }
                }
                "not" => r.not = Some(self.node(value, &here)?),
                "$ref" => {
                    let target = value.as_str().ok_or_else(|| refuse(&here, "must be a string"))?;
                    let index = if target == "#" {
                        0
                    } else {
                        let name = target
                            .strip_prefix("#/$defs/")
                            .and_then(|n| self.names.get(n))
                            .ok_or_else(|| {
                                refuse(
                                    &here,
                                    format!("{target:?} is not supported: only # and #/$defs/<name> of this document"),
                                )
                            })?;
                        *name
                    };
                    r.reference = Some(index);
                }
                other => {
                    return Err(refuse(
                        &here,
                        format!("the keyword {other:?} is not supported by this validator"),
                    ));
                }
            }
        }
        // An embedded $id would move what "#" means; only the root has one.
        if !at.is_empty() && obj.contains_key("$id") {
            return Err(refuse(at, "an embedded $id is not supported"));
        }
        Ok(Node::Rules(Box::new(r)))
    }
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) if JsonType::Integer.admits(v) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// RFC 6901: `~` and `/` in a name are escaped.
pub(crate) fn escape_pointer(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// Numbers compare by value (`1` and `1.0` are equal), exactly when both
/// are integers.
fn num_cmp(a: &Number, b: &Number) -> Ordering {
    let int = |n: &Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (int(a), int(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => {
            let (x, y) = (a.as_f64().unwrap_or(f64::NAN), b.as_f64().unwrap_or(f64::NAN));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
    }
}

/// JSON equality as the schema keywords mean it: numbers by value, objects
/// regardless of key order.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_cmp(x, y) == Ordering::Equal,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}
