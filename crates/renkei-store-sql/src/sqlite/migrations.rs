//! The SQLite migrations of each store, in order. Applied ones never change.

pub(crate) const WITNESS: &[&str] = &[include_str!("../../migrations/sqlite/witness_001.sql")];

pub(crate) const PORTAL: &[&str] = &[
    include_str!("../../migrations/sqlite/portal_001.sql"),
    include_str!("../../migrations/sqlite/portal_002.sql"),
    include_str!("../../migrations/sqlite/portal_003.sql"),
    include_str!("../../migrations/sqlite/portal_004.sql"),
    include_str!("../../migrations/sqlite/portal_005.sql"),
    include_str!("../../migrations/sqlite/portal_006.sql"),
    include_str!("../../migrations/sqlite/portal_007.sql"),
];

pub(crate) const NODE: &[&str] = &[
    include_str!("../../migrations/sqlite/node_001.sql"),
    include_str!("../../migrations/sqlite/node_002.sql"),
    include_str!("../../migrations/sqlite/node_003.sql"),
    include_str!("../../migrations/sqlite/node_004.sql"),
    include_str!("../../migrations/sqlite/node_005.sql"),
    include_str!("../../migrations/sqlite/node_006.sql"),
];

pub(crate) const REGISTRY: &[&str] = &[
    include_str!("../../migrations/sqlite/registry_001.sql"),
    include_str!("../../migrations/sqlite/registry_002.sql"),
    include_str!("../../migrations/sqlite/registry_003.sql"),
    include_str!("../../migrations/sqlite/registry_004.sql"),
    include_str!("../../migrations/sqlite/registry_005.sql"),
    include_str!("../../migrations/sqlite/registry_006.sql"),
];

pub(crate) const HUB: &[&str] = &[
    include_str!("../../migrations/sqlite/hub_001.sql"),
    include_str!("../../migrations/sqlite/hub_002.sql"),
    include_str!("../../migrations/sqlite/hub_003.sql"),
    include_str!("../../migrations/sqlite/hub_004.sql"),
    include_str!("../../migrations/sqlite/hub_005.sql"),
    include_str!("../../migrations/sqlite/hub_006.sql"),
    include_str!("../../migrations/sqlite/hub_007.sql"),
];
