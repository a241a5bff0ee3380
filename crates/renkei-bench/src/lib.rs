//! `renkei bench …`: the benchmarks whose results BENCHMARKS.md records.
//!
//! Each benchmark module runs its measurement on `renkei_demo`'s network
//! (or a bare hub store) and returns the figures as plain data; [`report`]
//! alone turns them into the Markdown that BENCHMARKS.md keeps, so that a
//! report's wording can change without touching what is measured, and a
//! figure can be checked or compared without parsing Markdown.

pub mod delivery;
pub mod enrol;
pub mod filing;
pub mod history;
pub mod linkage;
pub mod log;
pub mod measure;
pub mod portal;
pub mod push;
pub mod report;
pub mod scale;
pub mod soak;
