// Tests unwrap: a failure should stop the test with its backtrace.
#![allow(clippy::unwrap_used)]

//! renkei-delivery against third-party vectors and its own document types.

mod deposits;
mod document_types;
mod draft;
mod filing;
mod interop;
mod json_schema_suite;
