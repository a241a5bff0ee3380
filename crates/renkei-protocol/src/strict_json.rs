//! JSON decoding in which a struct is only ever read from a JSON object.
//!
//! serde's derived `Deserialize` for a struct also accepts a JSON array of
//! its fields in declaration order (`[["x"]]` for `{"codes": ["x"]}`): a
//! form no description of these APIs admits, no client sends, and that the
//! independent API tester found accepted. [`from_slice`] and [`from_str`]
//! wrap serde_json so that every struct, at any depth and inside options,
//! sequences, maps and enum variants, is read with `deserialize_map`, which
//! refuses an array with "invalid type: sequence, expected struct …".
//! Everything else decodes exactly as serde_json decodes it.
//!
//! Every JSON document that comes from outside (request bodies, peers'
//! replies, import files) is read through this module.

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};

/// Decodes one JSON document (trailing whitespace only) into `T`, reading
/// every struct from an object.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = T::deserialize(Strict(&mut de))?;
    de.end()?;
    Ok(value)
}

/// [`from_slice`] for text.
pub fn from_str<T: DeserializeOwned>(text: &str) -> serde_json::Result<T> {
    from_slice(text.as_bytes())
}

/// A JSON document refused by [`from_slice_naming_field`]: the path of the
/// value that was wrong (`medical_expense_notices[2].paid`; `.` for the
/// document itself) and serde_json's reason.
#[derive(Debug)]
pub struct FieldError {
    pub path: String,
    pub error: serde_json::Error,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() || self.path == "." {
            write!(f, "{}", self.error)
        } else {
            write!(f, "{}: {}", self.path, self.error)
        }
    }
}

impl std::error::Error for FieldError {}

/// [`from_slice`], saying which field was wrong: for documents a person
/// writes (files handed to the command line, deposited documents), where
/// "invalid type at line 1 column 212" does not say what to fix.
pub fn from_slice_naming_field<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FieldError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut track = serde_path_to_error::Track::new();
    let value = T::deserialize(serde_path_to_error::Deserializer::new(
        Strict(&mut de),
        &mut track,
    ))
    .map_err(|error| FieldError {
        path: track.path().to_string(),
        error,
    })?;
    de.end().map_err(|error| FieldError {
        path: String::new(),
        error,
    })?;
    Ok(value)
}

/// A deserializer that hands structs the map form only.
struct Strict<D>(D);

macro_rules! forward_plain {
    ($($method:ident),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
                self.0.$method(StrictVisitor(visitor))
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    forward_plain!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
        deserialize_ignored_any,
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, StrictVisitor(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, StrictVisitor(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, StrictVisitor(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple_struct(name, len, StrictVisitor(visitor))
    }

    // The one change: a struct is read as a map, never as a sequence.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(StrictVisitor(visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_enum(name, variants, StrictVisitor(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// Wraps a visitor so that whatever it reads next is read strictly too.
struct StrictVisitor<V>(V);

macro_rules! forward_visit {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
                self.0.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for StrictVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    forward_visit!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_str(&str),
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(Strict(d))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(Strict(d))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(StrictSeq(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(StrictMap(map))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(StrictEnum(data))
    }
}

/// Wraps a seed so that the value it reads is read strictly.
struct StrictSeed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for StrictSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Strict(d))
    }
}

struct StrictSeq<A>(A);

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for StrictSeq<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(StrictSeed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

struct StrictMap<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for StrictMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(StrictSeed(seed))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(StrictSeed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

struct StrictEnum<A>(A);

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for StrictEnum<A> {
    type Error = A::Error;
    type Variant = StrictVariant<A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self::Variant), A::Error> {
        let (value, variant) = self.0.variant_seed(StrictSeed(seed))?;
        Ok((value, StrictVariant(variant)))
    }
}

struct StrictVariant<A>(A);

/// The body of a struct variant, read as a map like any struct.
struct StructBody<V>(V);

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for StructBody<V> {
    type Value = V::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        d.deserialize_map(StrictVisitor(self.0))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for StrictVariant<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(StrictSeed(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, StrictVisitor(visitor))
    }

    // serde_json reads a struct variant's body with its own
    // `deserialize_struct`; reading it as a newtype's content instead puts
    // the body through `deserialize_map`.
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.newtype_variant_seed(StructBody(visitor))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Deserialize, Serialize, Clone)]
    struct Inner {
        name: String,
        n: u32,
    }

    #[derive(Debug, PartialEq, Deserialize, Serialize, Clone)]
    enum Shape {
        Unit,
        Newtype(Inner),
        Tuple(u8, u8),
        Struct { inner: Inner },
    }

    #[derive(Debug, PartialEq, Deserialize, Serialize, Clone)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Tagged {
        One { inner: Inner },
        Two { n: u32 },
    }

    #[derive(Debug, PartialEq, Deserialize, Serialize, Clone)]
    struct Outer {
        codes: Vec<String>,
        inner: Inner,
        maybe: Option<Inner>,
        many: Vec<Inner>,
        shape: Shape,
        pair: (u8, String),
        #[serde(default)]
        tagged: Option<Tagged>,
    }

    fn sample() -> Outer {
        Outer {
            codes: vec!["a".into()],
            inner: Inner {
                name: "x".into(),
                n: 1,
            },
            maybe: Some(Inner {
                name: "y".into(),
                n: 2,
            }),
            many: vec![Inner {
                name: "z".into(),
                n: 3,
            }],
            shape: Shape::Struct {
                inner: Inner {
                    name: "w".into(),
                    n: 4,
                },
            },
            pair: (5, "p".into()),
            tagged: Some(Tagged::One {
                inner: Inner {
                    name: "t".into(),
                    n: 6,
                },
            }),
        }
    }

    fn refused<T: DeserializeOwned + fmt::Debug>(json: &str) -> String {
        // serde_json's own reading accepts every one of these; only the
        // strict reading refuses them.
        let lax = serde_json::from_str::<T>(json);
        assert!(lax.is_ok(), "serde_json itself refuses {json}: {lax:?}");
        match from_str::<T>(json) {
            Ok(v) => panic!("{json} was accepted as {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn objects_decode_as_serde_json_decodes_them() {
        let json = serde_json::to_string(&sample()).expect("encode");
        assert_eq!(from_str::<Outer>(&json).expect("strict"), sample());
        for shape in [
            Shape::Unit,
            Shape::Newtype(Inner {
                name: "a".into(),
                n: 0,
            }),
            Shape::Tuple(1, 2),
        ] {
            let json = serde_json::to_string(&shape).expect("encode");
            assert_eq!(from_str::<Shape>(&json).expect("strict"), shape);
        }
        let tagged = Tagged::Two { n: 9 };
        let json = serde_json::to_string(&tagged).expect("encode");
        assert_eq!(from_str::<Tagged>(&json).expect("strict"), tagged);
    }

    #[test]
    fn the_field_naming_reader_says_where_the_document_is_wrong() {
        let ok = serde_json::to_string(&sample()).expect("encode");
        assert_eq!(
            from_slice_naming_field::<Outer>(ok.as_bytes()).expect("decode"),
            sample()
        );

        let at = |value: serde_json::Value| {
            let e = from_slice_naming_field::<Outer>(value.to_string().as_bytes()).expect_err("refused");
            (e.path.clone(), e.to_string())
        };
        let mut value = serde_json::to_value(sample()).expect("value");
        value["many"][0]["n"] = serde_json::json!("three");
        let (path, text) = at(value);
        assert_eq!(path, "many[0].n");
        assert!(
            text.starts_with("many[0].n: invalid type: string \"three\""),
            "{text}"
        );

        // Still strict: a struct as an array is refused, and named.
        let mut value = serde_json::to_value(sample()).expect("value");
        value["inner"] = serde_json::json!(["x", 1]);
        let (path, text) = at(value);
        assert_eq!(path, "inner");
        assert!(text.contains("expected struct Inner"), "{text}");

        // Trailing data after the document is refused without a path.
        let e = from_slice_naming_field::<Inner>(br#"{"name":"a","n":1} {}"#).expect_err("trailing");
        assert!(e.to_string().starts_with("trailing characters"), "{e}");
    }

    #[test]
    fn a_struct_written_as_an_array_is_refused_at_any_depth() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)] // read only through Debug
        struct Codes {
            codes: Vec<String>,
        }
        let e = refused::<Codes>(r#"[["x"]]"#);
        assert!(e.contains("expected struct Codes"), "{e}");
        assert!(from_str::<Codes>(r#"{"codes":["x"]}"#).is_ok());

        let mut value = serde_json::to_value(sample()).expect("value");
        value["inner"] = serde_json::json!(["x", 1]);
        assert!(refused::<Outer>(&value.to_string()).contains("expected struct Inner"));

        let mut value = serde_json::to_value(sample()).expect("value");
        value["maybe"] = serde_json::json!(["y", 2]);
        assert!(refused::<Outer>(&value.to_string()).contains("expected struct Inner"));

        let mut value = serde_json::to_value(sample()).expect("value");
        value["many"] = serde_json::json!([["z", 3]]);
        assert!(refused::<Outer>(&value.to_string()).contains("expected struct Inner"));

        let mut value = serde_json::to_value(sample()).expect("value");
        value["shape"] = serde_json::json!({"Newtype": ["a", 0]});
        assert!(refused::<Outer>(&value.to_string()).contains("expected struct Inner"));

        let mut value = serde_json::to_value(sample()).expect("value");
        value["shape"] = serde_json::json!({"Struct": [{"name": "w", "n": 4}]});
        assert!(refused::<Outer>(&value.to_string()).contains("struct variant Shape::Struct"));
    }

    #[test]
    fn trailing_text_and_other_malformed_documents_are_refused() {
        let json = serde_json::to_string(&sample()).expect("encode");
        assert!(from_str::<Outer>(&format!("{json} {{}}")).is_err());
        assert!(from_str::<Outer>(&format!("{json}  \n")).is_ok());
        assert!(from_str::<Outer>("").is_err());
        assert!(from_str::<Outer>("{").is_err());
        assert!(from_str::<Inner>(r#"{"name":"x","n":-1}"#).is_err());
        assert!(from_str::<Inner>(r#"{"name":"x"}"#).is_err());
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            "[a-z\\u{3042}-\\u{3093}\"\\\\]{0,8}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                prop::collection::btree_map("[a-z]{0,6}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        // Anything that is not a struct decodes exactly as serde_json
        // decodes it, and a struct decodes the same whenever it is written
        // as an object.
        #[test]
        fn agrees_with_serde_json_except_for_structs_as_arrays(value in json_value()) {
            let text = value.to_string();
            prop_assert_eq!(from_str::<serde_json::Value>(&text).expect("strict"), value);
            let lax = serde_json::from_str::<Inner>(&text).ok();
            let strict = from_str::<Inner>(&text).ok();
            if text.starts_with('{') {
                prop_assert_eq!(strict, lax);
            } else {
                prop_assert_eq!(strict, None);
            }
        }
    }
}
