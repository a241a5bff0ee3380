//! What may be asked of whom, and why.
//!
//! The [`Catalog`] names institution kinds, items (特定個人情報) and office
//! works (事務). The [`PermissionTable`] — modelled on the My Number Act's
//! table of permitted provisions — says which requester, for which office
//! work, may obtain which item from which kind of provider, on what legal
//! basis and during which dates. Both are data files, versioned and
//! validated when a hub starts: a bad file stops start-up with the line and
//! field at fault, because a silently ignored row is either an unlawful
//! linkage or a refused lawful one.

mod catalog;
mod codes;
mod table;

pub use catalog::{Catalog, CatalogError, InstitutionKind, Item, OfficeWork};
pub use codes::{CodeError, ItemCode, KindCode, OfficeWorkCode, RowId};
pub use table::{
    Direction, NotPermitted, PermissionRow, PermissionTable, Requester, TableError, TableRowRef,
};

/// The sample catalog shipped with renkei (`data/catalog.toml`).
pub const SAMPLE_CATALOG: &str = include_str!("../data/catalog.toml");
/// The sample permission table shipped with renkei (`data/permissions.csv`).
pub const SAMPLE_PERMISSIONS: &str = include_str!("../data/permissions.csv");

/// The sample catalog and table, parsed. They are part of the build, so a
/// failure here is a bug caught by this crate's tests.
pub fn sample() -> (Catalog, PermissionTable) {
    let catalog = Catalog::parse(SAMPLE_CATALOG).expect("the sample catalog is valid");
    let table = PermissionTable::parse(SAMPLE_PERMISSIONS, &catalog).expect("the sample table is valid");
    (catalog, table)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sample_is_valid_and_big_enough() {
        let (catalog, table) = super::sample();
        assert!(catalog.office_works().count() >= 10);
        assert_eq!(catalog.items().count(), 20);
        assert!(table.rows().len() >= 30);
        // Every office work in the sample is reachable through some row.
        for w in catalog.office_works() {
            assert!(table.rows().iter().any(|r| r.office_work == w.code), "{}", w.code);
        }
    }
}
