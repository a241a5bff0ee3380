//! The PostgreSQL migrations of each store, in order. Applied ones never change.

pub(crate) const WITNESS: &[&str] = &[include_str!("../../migrations/postgres/witness_001.sql")];

pub(crate) const PORTAL: &[&str] = &[
    include_str!("../../migrations/postgres/portal_001.sql"),
    include_str!("../../migrations/postgres/portal_002.sql"),
    include_str!("../../migrations/postgres/portal_003.sql"),
    include_str!("../../migrations/postgres/portal_004.sql"),
    include_str!("../../migrations/postgres/portal_005.sql"),
    include_str!("../../migrations/postgres/portal_006.sql"),
];

pub(crate) const NODE: &[&str] = &[
    include_str!("../../migrations/postgres/node_001.sql"),
    include_str!("../../migrations/postgres/node_002.sql"),
    include_str!("../../migrations/postgres/node_003.sql"),
    include_str!("../../migrations/postgres/node_004.sql"),
    include_str!("../../migrations/postgres/node_005.sql"),
];

pub(crate) const REGISTRY: &[&str] = &[
    include_str!("../../migrations/postgres/registry_001.sql"),
    include_str!("../../migrations/postgres/registry_002.sql"),
    include_str!("../../migrations/postgres/registry_003.sql"),
    include_str!("../../migrations/postgres/registry_004.sql"),
];

pub(crate) const HUB: &[&str] = &[
    include_str!("../../migrations/postgres/hub_001.sql"),
    include_str!("../../migrations/postgres/hub_002.sql"),
    include_str!("../../migrations/postgres/hub_003.sql"),
    include_str!("../../migrations/postgres/hub_004.sql"),
];
