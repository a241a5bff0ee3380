//! The rule language: small, typed, integer-only expressions over a
//! programme's inputs and parameters.
//!
//! ```text
//! expr    := "if" expr "then" expr "else" expr | or
//! or      := and ("||" and)*
//! and     := not ("&&" not)*
//! not     := "!" not | compare
//! compare := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
//! sum     := product (("+" | "-") product)*
//! product := unary (("*" | "/" | "%") unary)*
//! unary   := "-" unary | atom
//! atom    := integer | "true" | "false" | "string" | name
//!          | name "(" (arg ("," arg)*)? ")" | "(" expr ")"
//! arg     := name "=>" expr | expr
//! ```
//!
//! Values are whole numbers (yen, counts, months), booleans, dates, texts
//! and lists of one of those. Money is never a float: `/` divides rounding
//! down, every operation is checked for overflow, and a division by zero
//! is an error, not a number. An expression is type-checked when its
//! programme loads, so a rule that could not be evaluated never runs.

use std::collections::HashMap;
use std::fmt;

use time::Date;

/// A scalar type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scalar {
    Int,
    Bool,
    Date,
    Text,
}

/// The type of a value: a scalar or a list of one scalar type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    Scalar(Scalar),
    List(Scalar),
}

impl Type {
    pub const INT: Self = Self::Scalar(Scalar::Int);
    pub const BOOL: Self = Self::Scalar(Scalar::Bool);
    pub const DATE: Self = Self::Scalar(Scalar::Date);
    pub const TEXT: Self = Self::Scalar(Scalar::Text);

    /// `int`, `bool`, `date`, `text`, `list<int>`, …
    pub fn parse(s: &str) -> Option<Self> {
        let scalar = |s: &str| match s {
            "int" => Some(Scalar::Int),
            "bool" => Some(Scalar::Bool),
            "date" => Some(Scalar::Date),
            "text" => Some(Scalar::Text),
            _ => None,
        };
        match s.strip_prefix("list<").and_then(|r| r.strip_suffix('>')) {
            Some(inner) => scalar(inner).map(Self::List),
            None => scalar(s).map(Self::Scalar),
        }
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Int => "int",
            Self::Bool => "bool",
            Self::Date => "date",
            Self::Text => "text",
        })
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scalar(s) => write!(f, "{s}"),
            Self::List(s) => write!(f, "list<{s}>"),
        }
    }
}

/// A value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Bool(bool),
    Date(Date),
    Text(String),
    List(Scalar, Vec<Value>),
}

impl Value {
    pub fn type_of(&self) -> Type {
        match self {
            Self::Int(_) => Type::INT,
            Self::Bool(_) => Type::BOOL,
            Self::Date(_) => Type::DATE,
            Self::Text(_) => Type::TEXT,
            Self::List(s, _) => Type::List(*s),
        }
    }

    /// As JSON: numbers, booleans, `YYYY-MM-DD`, strings, arrays.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Int(n) => (*n).into(),
            Self::Bool(b) => (*b).into(),
            Self::Date(d) => format_date(*d).into(),
            Self::Text(t) => t.clone().into(),
            Self::List(_, xs) => xs.iter().map(Self::to_json).collect(),
        }
    }

    /// A JSON value read as `ty`, or why not.
    pub fn from_json(ty: Type, v: &serde_json::Value) -> Result<Self, String> {
        let scalar = |s: Scalar, v: &serde_json::Value| -> Result<Self, String> {
            match (s, v) {
                (Scalar::Int, serde_json::Value::Number(n)) => n
                    .as_i64()
                    .map(Self::Int)
                    .ok_or_else(|| format!("{n} is not a whole number")),
                (Scalar::Bool, serde_json::Value::Bool(b)) => Ok(Self::Bool(*b)),
                (Scalar::Date, serde_json::Value::String(t)) => parse_date(t).map(Self::Date),
                (Scalar::Text, serde_json::Value::String(t)) => Ok(Self::Text(t.clone())),
                (s, v) => Err(format!("{v} is not a {s}")),
            }
        };
        match (ty, v) {
            (Type::Scalar(s), v) => scalar(s, v),
            (Type::List(s), serde_json::Value::Array(xs)) => Ok(Self::List(
                s,
                xs.iter().map(|x| scalar(s, x)).collect::<Result<_, _>>()?,
            )),
            (t, v) => Err(format!("{v} is not a {t}")),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

/// `YYYY-MM-DD`, a real calendar date.
pub fn parse_date(s: &str) -> Result<Date, String> {
    let bad = || format!("{s:?} is not a date (YYYY-MM-DD)");
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let year: i32 = y.parse().map_err(|_| bad())?;
    let month: u8 = m.parse().map_err(|_| bad())?;
    let day: u8 = d.parse().map_err(|_| bad())?;
    let month = time::Month::try_from(month).map_err(|_| bad())?;
    Date::from_calendar_date(year, month, day).map_err(|_| bad())
}

pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Completed years from `born` to `on` (0 before the first birthday).
pub fn age(born: Date, on: Date) -> i64 {
    let mut years = i64::from(on.year()) - i64::from(born.year());
    if (u8::from(on.month()), on.day()) < (u8::from(born.month()), born.day()) {
        years -= 1;
    }
    years
}

/// The age that places a child in a school year: completed years on the
/// 1 April that begins the school year of `on` (学校教育法第17条: a child
/// born on 1 April is a year ahead of one born on 2 April, because the
/// law counts an age as reached the day before the birthday).
pub fn school_age(born: Date, on: Date) -> i64 {
    let start_year = if u8::from(on.month()) >= 4 {
        on.year()
    } else {
        on.year() - 1
    };
    match Date::from_calendar_date(start_year, time::Month::April, 1) {
        Ok(april) => age(born, april),
        Err(_) => age(born, on),
    }
}

/// Whole months from `from` to `to` (negative if `to` is earlier).
pub fn months_between(from: Date, to: Date) -> i64 {
    let months = (i64::from(to.year()) - i64::from(from.year())) * 12
        + (i64::from(u8::from(to.month())) - i64::from(u8::from(from.month())));
    if to >= from {
        if to.day() < from.day() { months - 1 } else { months }
    } else if to.day() > from.day() {
        months + 1
    } else {
        months
    }
}

/// Where an expression is wrong, as a byte offset into its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LangError {
    pub at: usize,
    pub message: String,
}

fn err<T>(at: usize, message: impl Into<String>) -> Result<T, LangError> {
    Err(LangError {
        at,
        message: message.into(),
    })
}

// ------------------------------------------------------------------ lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Int(i64),
    Str(String),
    Name(String),
    Sym(&'static str),
    End,
}

const SYMBOLS: [&str; 19] = [
    "=>", "<=", ">=", "==", "!=", "&&", "||", "(", ")", ",", "+", "-", "*", "/", "%", "<", ">", "!", "=",
];

fn lex(src: &str) -> Result<Vec<(usize, Tok)>, LangError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'#' {
            // A comment to the end of the line.
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if c.is_ascii_digit() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'_') {
                i += 1;
            }
            let digits: String = src[start..i].chars().filter(|c| *c != '_').collect();
            let n = digits.parse().map_err(|_| LangError {
                at: start,
                message: format!("{} is too large a number", &src[start..i]),
            })?;
            out.push((start, Tok::Int(n)));
        } else if c == b'"' {
            let start = i;
            i += 1;
            let from = i;
            while i < bytes.len() && bytes[i] != b'"' {
                i += 1;
            }
            if i >= bytes.len() {
                return err(start, "a text is not closed with \"");
            }
            out.push((start, Tok::Str(src[from..i].to_owned())));
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push((start, Tok::Name(src[start..i].to_owned())));
        } else if let Some(sym) = SYMBOLS.iter().find(|s| src[i..].starts_with(**s)) {
            if *sym == "=" {
                return err(i, "`=` is not an operator: compare with `==`");
            }
            out.push((i, Tok::Sym(sym)));
            i += sym.len();
        } else {
            let ch = src[i..].chars().next().unwrap_or('?');
            return err(i, format!("unexpected character {ch:?}"));
        }
    }
    out.push((src.len(), Tok::End));
    Ok(out)
}

// ----------------------------------------------------------------- parser

/// A parsed expression; `at` is where it starts in the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub at: usize,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Lit(Value),
    Name(String),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    Call(String, Vec<Arg>),
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Expr(Expr),
    Lambda(String, Expr),
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
}

const KEYWORDS: [&str; 5] = ["if", "then", "else", "true", "false"];

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].1
    }
    fn at(&self) -> usize {
        self.toks[self.pos].0
    }
    fn bump(&mut self) -> (usize, Tok) {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }
    fn sym(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Sym(x) if *x == s)
    }
    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Tok::Name(n) if n == k)
    }
    fn expect_sym(&mut self, s: &str) -> Result<(), LangError> {
        if self.sym(s) {
            self.bump();
            Ok(())
        } else {
            err(
                self.at(),
                format!("expected `{s}`, found {}", describe(self.peek())),
            )
        }
    }
    fn expect_keyword(&mut self, k: &str) -> Result<(), LangError> {
        if self.keyword(k) {
            self.bump();
            Ok(())
        } else {
            err(
                self.at(),
                format!("expected `{k}`, found {}", describe(self.peek())),
            )
        }
    }

    fn expr(&mut self) -> Result<Expr, LangError> {
        if self.keyword("if") {
            let at = self.bump().0;
            let c = self.expr()?;
            self.expect_keyword("then")?;
            let a = self.expr()?;
            self.expect_keyword("else")?;
            let b = self.expr()?;
            return Ok(Expr {
                at,
                kind: Kind::If(Box::new(c), Box::new(a), Box::new(b)),
            });
        }
        self.binary_level(0)
    }

    /// Levels: `||`, `&&`, then comparison (not associative).
    fn binary_level(&mut self, level: usize) -> Result<Expr, LangError> {
        const LEVELS: [&[&str]; 2] = [&["||"], &["&&"]];
        if level == LEVELS.len() {
            return self.not();
        }
        let mut left = self.binary_level(level + 1)?;
        while let Tok::Sym(s) = self.peek().clone()
            && LEVELS[level].contains(&s)
        {
            self.bump();
            let right = self.binary_level(level + 1)?;
            left = Expr {
                at: left.at,
                kind: Kind::Binary(s, Box::new(left), Box::new(right)),
            };
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, LangError> {
        if self.sym("!") {
            let at = self.bump().0;
            let e = self.not()?;
            return Ok(Expr {
                at,
                kind: Kind::Not(Box::new(e)),
            });
        }
        let left = self.sum()?;
        if let Tok::Sym(s) = self.peek().clone()
            && ["<", "<=", ">", ">=", "==", "!="].contains(&s)
        {
            self.bump();
            let right = self.sum()?;
            if let Tok::Sym(t) = self.peek()
                && ["<", "<=", ">", ">=", "==", "!="].contains(t)
            {
                return err(self.at(), "comparisons do not chain: join them with `&&`");
            }
            return Ok(Expr {
                at: left.at,
                kind: Kind::Binary(s, Box::new(left), Box::new(right)),
            });
        }
        Ok(left)
    }

    fn sum(&mut self) -> Result<Expr, LangError> {
        let mut left = self.product()?;
        while let Tok::Sym(s) = self.peek().clone()
            && (s == "+" || s == "-")
        {
            self.bump();
            let right = self.product()?;
            left = Expr {
                at: left.at,
                kind: Kind::Binary(s, Box::new(left), Box::new(right)),
            };
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Expr, LangError> {
        let mut left = self.unary()?;
        while let Tok::Sym(s) = self.peek().clone()
            && (s == "*" || s == "/" || s == "%")
        {
            self.bump();
            let right = self.unary()?;
            left = Expr {
                at: left.at,
                kind: Kind::Binary(s, Box::new(left), Box::new(right)),
            };
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, LangError> {
        if self.sym("-") {
            let at = self.bump().0;
            let e = self.unary()?;
            return Ok(Expr {
                at,
                kind: Kind::Neg(Box::new(e)),
            });
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, LangError> {
        let (at, tok) = self.bump();
        let kind = match tok {
            Tok::Int(n) => Kind::Lit(Value::Int(n)),
            Tok::Str(s) => Kind::Lit(Value::Text(s)),
            Tok::Name(n) if n == "true" => Kind::Lit(Value::Bool(true)),
            Tok::Name(n) if n == "false" => Kind::Lit(Value::Bool(false)),
            Tok::Name(n) if KEYWORDS.contains(&n.as_str()) => {
                return err(at, format!("`{n}` cannot stand here"));
            }
            Tok::Name(n) if self.sym("(") => {
                self.bump();
                let mut args = Vec::new();
                if !self.sym(")") {
                    loop {
                        args.push(self.arg()?);
                        if self.sym(",") {
                            self.bump();
                        } else {
                            break;
                        }
                    }
                }
                self.expect_sym(")")?;
                Kind::Call(n, args)
            }
            Tok::Name(n) => Kind::Name(n),
            Tok::Sym("(") => {
                let e = self.expr()?;
                self.expect_sym(")")?;
                return Ok(e);
            }
            other => return err(at, format!("expected a value, found {}", describe(&other))),
        };
        Ok(Expr { at, kind })
    }

    fn arg(&mut self) -> Result<Arg, LangError> {
        if let Tok::Name(n) = self.peek().clone()
            && matches!(&self.toks[self.pos + 1].1, Tok::Sym("=>"))
        {
            self.bump();
            self.bump();
            return Ok(Arg::Lambda(n, self.expr()?));
        }
        Ok(Arg::Expr(self.expr()?))
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Int(n) => format!("the number {n}"),
        Tok::Str(s) => format!("the text {s:?}"),
        Tok::Name(n) => format!("`{n}`"),
        Tok::Sym(s) => format!("`{s}`"),
        Tok::End => "the end".into(),
    }
}

/// Parse an expression.
pub fn parse(src: &str) -> Result<Expr, LangError> {
    let mut p = Parser {
        toks: lex(src)?,
        pos: 0,
    };
    let e = p.expr()?;
    if *p.peek() != Tok::End {
        return err(p.at(), format!("expected the end, found {}", describe(p.peek())));
    }
    Ok(e)
}

// ------------------------------------------------------------------ types

/// The names an expression may use, with their types.
pub type Names = HashMap<String, Type>;

/// The functions, for error messages.
pub const FUNCTIONS: &str = "min, max, abs, round_down, date, age, school_age, months_between, days_between, len, last, count, sum, any, all, contains";

fn lambda_scalar(list: Type, at: usize, f: &str) -> Result<Scalar, LangError> {
    match list {
        Type::List(s) => Ok(s),
        t => err(at, format!("{f} takes a list first, not a {t}")),
    }
}

/// The type of `e` where `names` are known, or the first error.
pub fn check(e: &Expr, names: &Names) -> Result<Type, LangError> {
    let mut scope = Vec::new();
    check_in(e, names, &mut scope)
}

fn check_in(e: &Expr, names: &Names, scope: &mut Vec<(String, Type)>) -> Result<Type, LangError> {
    let want = |e: &Expr, t: Type, scope: &mut Vec<(String, Type)>, what: &str| -> Result<(), LangError> {
        let got = check_in(e, names, scope)?;
        if got == t {
            Ok(())
        } else {
            err(e.at, format!("{what} must be a {t}, not a {got}"))
        }
    };
    match &e.kind {
        Kind::Lit(v) => Ok(v.type_of()),
        Kind::Name(n) => scope
            .iter()
            .rev()
            .find(|(s, _)| s == n)
            .map(|(_, t)| *t)
            .or_else(|| names.get(n).copied())
            .ok_or_else(|| {
                let mut known: Vec<&str> = names.keys().map(String::as_str).collect();
                known.sort_unstable();
                LangError {
                    at: e.at,
                    message: format!("unknown name `{n}` (known: {})", known.join(", ")),
                }
            }),
        Kind::Neg(x) => {
            want(x, Type::INT, scope, "what `-` negates")?;
            Ok(Type::INT)
        }
        Kind::Not(x) => {
            want(x, Type::BOOL, scope, "what `!` negates")?;
            Ok(Type::BOOL)
        }
        Kind::If(c, a, b) => {
            want(c, Type::BOOL, scope, "the condition of `if`")?;
            let ta = check_in(a, names, scope)?;
            let tb = check_in(b, names, scope)?;
            if ta != tb {
                return err(
                    b.at,
                    format!("both branches of `if` must have one type: {ta} and {tb}"),
                );
            }
            Ok(ta)
        }
        Kind::Binary(op, a, b) => match *op {
            "&&" | "||" => {
                want(a, Type::BOOL, scope, &format!("each side of `{op}`"))?;
                want(b, Type::BOOL, scope, &format!("each side of `{op}`"))?;
                Ok(Type::BOOL)
            }
            "+" | "-" | "*" | "/" | "%" => {
                want(a, Type::INT, scope, &format!("each side of `{op}`"))?;
                want(b, Type::INT, scope, &format!("each side of `{op}`"))?;
                Ok(Type::INT)
            }
            _ => {
                let ta = check_in(a, names, scope)?;
                let tb = check_in(b, names, scope)?;
                if ta != tb {
                    return err(e.at, format!("`{op}` compares a {ta} with a {tb}"));
                }
                let ordered = matches!(ta, Type::Scalar(Scalar::Int | Scalar::Date));
                if !ordered && !matches!(*op, "==" | "!=") {
                    return err(e.at, format!("`{op}` does not order a {ta}"));
                }
                if matches!(ta, Type::List(_)) {
                    return err(e.at, "lists are not compared; use len, count or contains");
                }
                Ok(Type::BOOL)
            }
        },
        Kind::Call(f, args) => check_call(e.at, f, args, names, scope),
    }
}

fn check_call(
    at: usize,
    f: &str,
    args: &[Arg],
    names: &Names,
    scope: &mut Vec<(String, Type)>,
) -> Result<Type, LangError> {
    let arity = |n: usize| -> Result<(), LangError> {
        if args.len() == n {
            Ok(())
        } else {
            err(at, format!("{f} takes {n} arguments, not {}", args.len()))
        }
    };
    let expr = |i: usize| -> Result<&Expr, LangError> {
        match &args[i] {
            Arg::Expr(e) => Ok(e),
            Arg::Lambda(..) => err(at, format!("argument {} of {f} is not a function", i + 1)),
        }
    };
    let typed = |i: usize, t: Type, scope: &mut Vec<(String, Type)>| -> Result<(), LangError> {
        let e = expr(i)?;
        let got = check_in(e, names, scope)?;
        if got == t {
            Ok(())
        } else {
            err(
                e.at,
                format!("argument {} of {f} must be a {t}, not a {got}", i + 1),
            )
        }
    };
    match f {
        "min" | "max" => {
            if args.len() < 2 {
                return err(at, format!("{f} takes two or more arguments"));
            }
            for i in 0..args.len() {
                typed(i, Type::INT, scope)?;
            }
            Ok(Type::INT)
        }
        "abs" => {
            arity(1)?;
            typed(0, Type::INT, scope)?;
            Ok(Type::INT)
        }
        "round_down" => {
            arity(2)?;
            typed(0, Type::INT, scope)?;
            typed(1, Type::INT, scope)?;
            Ok(Type::INT)
        }
        "date" => {
            arity(1)?;
            let e = expr(0)?;
            match &e.kind {
                Kind::Lit(Value::Text(t)) => {
                    parse_date(t).map_err(|m| LangError { at: e.at, message: m })?;
                    Ok(Type::DATE)
                }
                _ => err(e.at, "date takes a text written \"YYYY-MM-DD\""),
            }
        }
        "age" | "school_age" | "months_between" | "days_between" => {
            arity(2)?;
            typed(0, Type::DATE, scope)?;
            typed(1, Type::DATE, scope)?;
            Ok(Type::INT)
        }
        "last" => {
            arity(1)?;
            let e = expr(0)?;
            Ok(Type::Scalar(lambda_scalar(check_in(e, names, scope)?, e.at, f)?))
        }
        "len" => {
            arity(1)?;
            let e = expr(0)?;
            lambda_scalar(check_in(e, names, scope)?, e.at, f)?;
            Ok(Type::INT)
        }
        "contains" => {
            arity(2)?;
            let e = expr(0)?;
            let s = lambda_scalar(check_in(e, names, scope)?, e.at, f)?;
            typed(1, Type::Scalar(s), scope)?;
            Ok(Type::BOOL)
        }
        "count" | "sum" | "any" | "all" => {
            arity(2)?;
            let e = expr(0)?;
            let s = lambda_scalar(check_in(e, names, scope)?, e.at, f)?;
            let Arg::Lambda(x, body) = &args[1] else {
                return err(at, format!("{f} takes a function second, as in `x => …`"));
            };
            scope.push((x.clone(), Type::Scalar(s)));
            let t = check_in(body, names, scope);
            scope.pop();
            let want = if f == "sum" { Type::INT } else { Type::BOOL };
            let t = t?;
            if t != want {
                return err(
                    body.at,
                    format!("the function of {f} must give a {want}, not a {t}"),
                );
            }
            Ok(if f == "count" || f == "sum" {
                Type::INT
            } else {
                Type::BOOL
            })
        }
        _ => err(at, format!("unknown function `{f}` (functions: {FUNCTIONS})")),
    }
}

// ------------------------------------------------------------- evaluation

/// Why an expression could not be evaluated on given values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    pub at: usize,
    pub message: String,
}

fn fail<T>(at: usize, message: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError {
        at,
        message: message.into(),
    })
}

/// Evaluate a checked expression; `values` holds a value for every name
/// it was checked with, of that type.
pub fn eval(e: &Expr, values: &HashMap<String, Value>) -> Result<Value, EvalError> {
    let mut scope = Vec::new();
    eval_in(e, values, &mut scope)
}

fn int(v: Value, at: usize) -> Result<i64, EvalError> {
    match v {
        Value::Int(n) => Ok(n),
        other => fail(at, format!("{other} is not an int")),
    }
}

fn boolean(v: Value, at: usize) -> Result<bool, EvalError> {
    match v {
        Value::Bool(b) => Ok(b),
        other => fail(at, format!("{other} is not a bool")),
    }
}

fn date(v: Value, at: usize) -> Result<Date, EvalError> {
    match v {
        Value::Date(d) => Ok(d),
        other => fail(at, format!("{other} is not a date")),
    }
}

fn list(v: Value, at: usize) -> Result<Vec<Value>, EvalError> {
    match v {
        Value::List(_, xs) => Ok(xs),
        other => fail(at, format!("{other} is not a list")),
    }
}

fn eval_in(
    e: &Expr,
    values: &HashMap<String, Value>,
    scope: &mut Vec<(String, Value)>,
) -> Result<Value, EvalError> {
    let overflow = || EvalError {
        at: e.at,
        message: "the result is too large".into(),
    };
    match &e.kind {
        Kind::Lit(v) => Ok(v.clone()),
        Kind::Name(n) => scope
            .iter()
            .rev()
            .find(|(s, _)| s == n)
            .map(|(_, v)| v.clone())
            .or_else(|| values.get(n).cloned())
            .ok_or_else(|| EvalError {
                at: e.at,
                message: format!("no value for `{n}`"),
            }),
        Kind::Neg(x) => Ok(Value::Int(
            int(eval_in(x, values, scope)?, x.at)?
                .checked_neg()
                .ok_or_else(overflow)?,
        )),
        Kind::Not(x) => Ok(Value::Bool(!boolean(eval_in(x, values, scope)?, x.at)?)),
        Kind::If(c, a, b) => {
            if boolean(eval_in(c, values, scope)?, c.at)? {
                eval_in(a, values, scope)
            } else {
                eval_in(b, values, scope)
            }
        }
        Kind::Binary(op, a, b) => {
            // `&&` and `||` look at the right side only when they must.
            if *op == "&&" || *op == "||" {
                let l = boolean(eval_in(a, values, scope)?, a.at)?;
                if (*op == "&&") != l {
                    return Ok(Value::Bool(l));
                }
                return Ok(Value::Bool(boolean(eval_in(b, values, scope)?, b.at)?));
            }
            let l = eval_in(a, values, scope)?;
            let r = eval_in(b, values, scope)?;
            match *op {
                "+" | "-" | "*" | "/" | "%" => {
                    let (x, y) = (int(l, a.at)?, int(r, b.at)?);
                    let n = match *op {
                        "+" => x.checked_add(y),
                        "-" => x.checked_sub(y),
                        "*" => x.checked_mul(y),
                        _ if y == 0 => return fail(b.at, "division by zero"),
                        "/" => floor_div(x, y).map(|(q, _)| q),
                        _ => floor_div(x, y).map(|(_, r)| r),
                    };
                    Ok(Value::Int(n.ok_or_else(overflow)?))
                }
                "==" => Ok(Value::Bool(l == r)),
                "!=" => Ok(Value::Bool(l != r)),
                _ => {
                    let ord = match (&l, &r) {
                        (Value::Int(x), Value::Int(y)) => x.cmp(y),
                        (Value::Date(x), Value::Date(y)) => x.cmp(y),
                        _ => return fail(e.at, format!("{l} and {r} are not ordered")),
                    };
                    Ok(Value::Bool(match *op {
                        "<" => ord.is_lt(),
                        "<=" => ord.is_le(),
                        ">" => ord.is_gt(),
                        _ => ord.is_ge(),
                    }))
                }
            }
        }
        Kind::Call(f, args) => call(e.at, f, args, values, scope),
    }
}

/// Division rounding down (toward minus infinity) and the remainder that
/// goes with it (of the divisor's sign); `None` on overflow.
fn floor_div(x: i64, y: i64) -> Option<(i64, i64)> {
    let q = x.checked_div_euclid(y)?;
    let r = x.checked_rem_euclid(y)?;
    if y < 0 && r != 0 {
        Some((q - 1, r + y))
    } else {
        Some((q, r))
    }
}

fn call(
    at: usize,
    f: &str,
    args: &[Arg],
    values: &HashMap<String, Value>,
    scope: &mut Vec<(String, Value)>,
) -> Result<Value, EvalError> {
    let arg = |i: usize, scope: &mut Vec<(String, Value)>| -> Result<(Value, usize), EvalError> {
        match &args[i] {
            Arg::Expr(e) => Ok((eval_in(e, values, scope)?, e.at)),
            Arg::Lambda(..) => fail(at, "a function where a value was expected"),
        }
    };
    match f {
        "min" | "max" => {
            let mut best: Option<i64> = None;
            for i in 0..args.len() {
                let (v, at) = arg(i, scope)?;
                let n = int(v, at)?;
                best = Some(match best {
                    None => n,
                    Some(b) if f == "min" => b.min(n),
                    Some(b) => b.max(n),
                });
            }
            Ok(Value::Int(best.unwrap_or(0)))
        }
        "abs" => {
            let (v, a) = arg(0, scope)?;
            int(v, a)?.checked_abs().map(Value::Int).ok_or_else(|| EvalError {
                at,
                message: "the result is too large".into(),
            })
        }
        "round_down" => {
            let (v, a) = arg(0, scope)?;
            let (u, ua) = arg(1, scope)?;
            let (n, unit) = (int(v, a)?, int(u, ua)?);
            if unit <= 0 {
                return fail(ua, format!("round_down needs a positive unit, not {unit}"));
            }
            Ok(Value::Int(n.div_euclid(unit) * unit))
        }
        "date" => match &args[0] {
            Arg::Expr(Expr {
                kind: Kind::Lit(Value::Text(t)),
                at,
            }) => parse_date(t)
                .map(Value::Date)
                .map_err(|m| EvalError { at: *at, message: m }),
            _ => fail(at, "date takes a text"),
        },
        "age" | "school_age" | "months_between" | "days_between" => {
            let (x, xa) = arg(0, scope)?;
            let (y, ya) = arg(1, scope)?;
            let (x, y) = (date(x, xa)?, date(y, ya)?);
            Ok(Value::Int(match f {
                "age" => age(x, y),
                "school_age" => school_age(x, y),
                "months_between" => months_between(x, y),
                _ => (y - x).whole_days(),
            }))
        }
        "last" => {
            let (v, a) = arg(0, scope)?;
            list(v, a)?.pop().ok_or_else(|| EvalError {
                at: a,
                message: "last of an empty list".into(),
            })
        }
        "len" => {
            let (v, a) = arg(0, scope)?;
            Ok(Value::Int(list(v, a)?.len() as i64))
        }
        "contains" => {
            let (v, a) = arg(0, scope)?;
            let (x, _) = arg(1, scope)?;
            Ok(Value::Bool(list(v, a)?.contains(&x)))
        }
        "count" | "sum" | "any" | "all" => {
            let (v, a) = arg(0, scope)?;
            let Arg::Lambda(x, body) = &args[1] else {
                return fail(at, format!("{f} needs a function"));
            };
            let items = list(v, a)?;
            let len = items.len() as i64;
            let mut total: i64 = 0;
            for item in items {
                scope.push((x.clone(), item));
                let r = eval_in(body, values, scope);
                scope.pop();
                let r = r?;
                match f {
                    "sum" => {
                        total = total.checked_add(int(r, body.at)?).ok_or_else(|| EvalError {
                            at,
                            message: "the result is too large".into(),
                        })?;
                    }
                    _ => total += i64::from(boolean(r, body.at)?),
                }
            }
            Ok(match f {
                "count" | "sum" => Value::Int(total),
                "any" => Value::Bool(total > 0),
                _ => Value::Bool(total == len),
            })
        }
        _ => fail(at, format!("unknown function `{f}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        [
            ("income", Type::INT),
            ("exempt", Type::BOOL),
            ("today", Type::DATE),
            ("children", Type::List(Scalar::Date)),
        ]
        .into_iter()
        .map(|(n, t)| (n.to_owned(), t))
        .collect()
    }

    fn values() -> HashMap<String, Value> {
        let d = |s| Value::Date(parse_date(s).unwrap());
        [
            ("income", Value::Int(1_200_000)),
            ("exempt", Value::Bool(true)),
            ("today", d("2024-06-01")),
            (
                "children",
                Value::List(
                    Scalar::Date,
                    vec![d("2022-06-02"), d("2010-01-01"), d("2021-06-01")],
                ),
            ),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .collect()
    }

    fn run(src: &str) -> Value {
        let e = parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        check(&e, &names()).unwrap_or_else(|e| panic!("{src}: {e}"));
        eval(&e, &values()).unwrap()
    }

    #[test]
    fn expressions_evaluate_with_integer_arithmetic() {
        assert_eq!(run("1 + 2 * 3"), Value::Int(7));
        assert_eq!(run("(1 + 2) * 3"), Value::Int(9));
        assert_eq!(run("-7 / 2"), Value::Int(-4), "division rounds down");
        assert_eq!(run("-7 % 2"), Value::Int(1));
        assert_eq!(run("round_down(123_456, 1000)"), Value::Int(123_000));
        assert_eq!(run("min(3, income, 9)"), Value::Int(3));
        assert_eq!(run("max(3, income)"), Value::Int(1_200_000));
        assert_eq!(run("if exempt then 70_000 else 0"), Value::Int(70_000));
        assert_eq!(run("!exempt || income > 1"), Value::Bool(true));
        assert_eq!(
            run("income >= 1_200_000 && income <= 1_200_000"),
            Value::Bool(true)
        );
        assert_eq!(run("today >= date(\"2024-06-01\")"), Value::Bool(true));
        // Ages in completed years: one child turns 2 tomorrow, one is 3.
        assert_eq!(run("count(children, d => age(d, today) < 3)"), Value::Int(1));
        assert_eq!(run("sum(children, d => age(d, today))"), Value::Int(1 + 14 + 3));
        assert_eq!(run("any(children, d => age(d, today) >= 14)"), Value::Bool(true));
        assert_eq!(run("all(children, d => age(d, today) >= 14)"), Value::Bool(false));
        assert_eq!(run("len(children)"), Value::Int(3));
        assert_eq!(run("last(children) == date(\"2021-06-01\")"), Value::Bool(true));
        assert_eq!(run("days_between(date(\"2024-05-01\"), today)"), Value::Int(31));
        assert_eq!(run("days_between(today, date(\"2024-05-01\"))"), Value::Int(-31));
        assert_eq!(
            run("school_age(date(\"2010-04-01\"), date(\"2016-04-01\"))"),
            Value::Int(6)
        );
        assert_eq!(run("contains(children, date(\"2010-01-01\"))"), Value::Bool(true));
        assert_eq!(run("months_between(date(\"2024-01-31\"), today)"), Value::Int(4));
        // A comment.
        assert_eq!(run("1 # one\n+ 1"), Value::Int(2));
    }

    #[test]
    fn dates_ages_and_months_count_whole_units() {
        let d = |s| parse_date(s).unwrap();
        assert_eq!(age(d("2020-02-29"), d("2021-02-28")), 0);
        assert_eq!(age(d("2020-02-29"), d("2021-03-01")), 1);
        assert_eq!(age(d("2000-06-01"), d("2024-06-01")), 24);
        assert_eq!(age(d("2000-06-02"), d("2024-06-01")), 23);
        // A child born on 1 April is in the year above one born on 2 April.
        assert_eq!(school_age(d("2010-04-01"), d("2016-10-01")), 6);
        assert_eq!(school_age(d("2010-04-02"), d("2016-10-01")), 5);
        assert_eq!(
            school_age(d("2010-04-02"), d("2017-03-31")),
            5,
            "the year runs to 31 March"
        );
        assert_eq!(school_age(d("2010-04-02"), d("2017-04-01")), 6);
        assert_eq!(months_between(d("2024-01-15"), d("2024-02-14")), 0);
        assert_eq!(months_between(d("2024-01-15"), d("2024-02-15")), 1);
        assert_eq!(months_between(d("2024-02-15"), d("2024-01-15")), -1);
        assert_eq!(months_between(d("2024-02-15"), d("2024-01-16")), 0);
        for bad in ["2024-02-30", "2024-13-01", "24-01-01", "2024-1-01", "x"] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_mistake_is_caught_before_evaluation_with_its_place() {
        for (src, at, says) in [
            ("incom + 1", 0, "unknown name `incom`"),
            ("income + exempt", 9, "each side of `+` must be a int"),
            ("if income then 1 else 0", 3, "condition of `if`"),
            ("if exempt then 1 else false", 22, "both branches"),
            ("income < today", 0, "compares a int with a date"),
            ("exempt < exempt", 0, "does not order"),
            ("1 < 2 < 3", 6, "do not chain"),
            ("income = 1", 7, "compare with `==`"),
            ("frobnicate(1)", 0, "unknown function"),
            ("min(1)", 0, "two or more"),
            ("date(\"2024-02-30\")", 5, "not a date"),
            ("date(today)", 5, "a text written"),
            ("count(income, x => true)", 6, "takes a list first"),
            ("count(children, 1)", 0, "takes a function second"),
            ("sum(children, d => d)", 19, "must give a int"),
            ("(1 + 2", 6, "expected `)`"),
            ("1 +", 3, "expected a value"),
            ("1 2", 2, "expected the end"),
            ("\"open", 0, "not closed"),
            ("income ? 1", 7, "unexpected character"),
            ("99999999999999999999", 0, "too large"),
            ("then", 0, "cannot stand here"),
        ] {
            let r = parse(src).and_then(|e| check(&e, &names()).map(|_| ()));
            let e = r.expect_err(src);
            assert_eq!(e.at, at, "{src}: {e}");
            assert!(e.message.contains(says), "{src}: {e}");
        }
    }

    #[test]
    fn evaluation_errors_are_errors_not_numbers() {
        let mut v = values();
        for (src, says) in [
            ("income / (income - income)", "division by zero"),
            ("income * 9_000_000_000_000", "too large"),
            ("round_down(income, 0)", "positive unit"),
        ] {
            let e = parse(src).unwrap();
            check(&e, &names()).unwrap();
            let err = eval(&e, &v).unwrap_err();
            assert!(err.message.contains(says), "{src}: {err}");
        }
        v.remove("income");
        let e = parse("income").unwrap();
        assert!(eval(&e, &v).unwrap_err().message.contains("no value"));
    }

    proptest::proptest! {
        #[test]
        fn arithmetic_matches_checked_i64(a in -1_000_000_000i64..1_000_000_000, b in -1_000_000i64..1_000_000) {
            let vals: HashMap<String, Value> =
                [("a".to_owned(), Value::Int(a)), ("b".to_owned(), Value::Int(b))].into_iter().collect();
            let names: Names = [("a".to_owned(), Type::INT), ("b".to_owned(), Type::INT)].into_iter().collect();
            let go = |src: &str| {
                let e = parse(src).unwrap();
                check(&e, &names).unwrap();
                eval(&e, &vals)
            };
            proptest::prop_assert_eq!(go("a + b * 2 - a").unwrap(), Value::Int(b * 2));
            if b != 0 {
                let floor = (a as f64 / b as f64).floor() as i64;
                proptest::prop_assert_eq!(go("a / b").unwrap(), Value::Int(floor));
                proptest::prop_assert_eq!(go("(a / b) * b + a % b").unwrap(), Value::Int(a));
            } else {
                proptest::prop_assert!(go("a / b").is_err());
            }
        }
    }
}
