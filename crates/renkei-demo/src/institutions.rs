//! The institutions of the demo country. Names are real; corporate numbers
//! are synthetic (valid check digits, made-up bases).

use renkei_ids::CorporateNumber;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstitutionSpec {
    /// Short handle, also the name of the node's directory.
    pub key: &'static str,
    pub name: &'static str,
    pub name_en: &'static str,
    pub kind: &'static str,
    base: u64,
}

impl InstitutionSpec {
    pub fn id(&self) -> CorporateNumber {
        CorporateNumber::from_base_number(self.base).expect("demo bases have 12 digits")
    }
}

pub const REGISTRY: InstitutionSpec = InstitutionSpec {
    key: "registry",
    name: "地方公共団体情報システム機構",
    name_en: "J-LIS (resident registry)",
    kind: "registry",
    base: 100_000_000_001,
};

pub const SETAGAYA: InstitutionSpec = InstitutionSpec {
    key: "setagaya",
    name: "世田谷区",
    name_en: "Setagaya City",
    kind: "municipality",
    base: 100_000_131_121,
};

pub const YOKOHAMA: InstitutionSpec = InstitutionSpec {
    key: "yokohama",
    name: "横浜市",
    name_en: "City of Yokohama",
    kind: "municipality",
    base: 100_000_141_003,
};

pub const PENSION: InstitutionSpec = InstitutionSpec {
    key: "pension",
    name: "日本年金機構",
    name_en: "Japan Pension Service",
    kind: "pension_service",
    base: 100_000_112_001,
};

pub const TAX: InstitutionSpec = InstitutionSpec {
    key: "tax",
    name: "国税庁",
    name_en: "National Tax Agency",
    kind: "tax_agency",
    base: 100_000_100_004,
};

pub const KENPO: InstitutionSpec = InstitutionSpec {
    key: "kenpo",
    name: "全国健康保険協会",
    name_en: "Japan Health Insurance Association",
    kind: "health_insurer",
    base: 100_000_118_005,
};

pub const VEHICLE: InstitutionSpec = InstitutionSpec {
    key: "vehicle",
    name: "関東運輸局 東京運輸支局",
    name_en: "Tokyo Transport Branch Office (vehicle registration)",
    kind: "vehicle_registration",
    base: 100_000_130_006,
};

pub const DIGITAL: InstitutionSpec = InstitutionSpec {
    key: "digital",
    name: "デジタル庁",
    name_en: "Digital Agency",
    kind: "digital_agency",
    base: 100_000_100_007,
};

pub const OSAKA: InstitutionSpec = InstitutionSpec {
    key: "osaka",
    name: "大阪市",
    name_en: "City of Osaka",
    kind: "municipality",
    base: 100_000_127_001,
};

pub const SAPPORO: InstitutionSpec = InstitutionSpec {
    key: "sapporo",
    name: "札幌市",
    name_en: "City of Sapporo",
    kind: "municipality",
    base: 100_000_101_002,
};

pub const KOKUHO: InstitutionSpec = InstitutionSpec {
    key: "kokuho",
    name: "東京都国民健康保険団体連合会",
    name_en: "Tokyo Federation of National Health Insurance Organizations",
    kind: "health_insurer",
    base: 100_000_113_009,
};

/// Three more institutions for benchmarks that need ten nodes.
pub const BENCH_NODES: [InstitutionSpec; 3] = [OSAKA, SAPPORO, KOKUHO];

/// Every institution node of the demo (the registry is separate).
pub const NODES: [InstitutionSpec; 7] = [SETAGAYA, YOKOHAMA, PENSION, TAX, KENPO, VEHICLE, DIGITAL];

/// The demo's municipalities with the prefix their addresses begin with:
/// the registry maps an address to the municipality its residents there
/// belong to (the statutory filing's 1 January residence).
pub const MUNICIPALITIES: [(InstitutionSpec, &str); 4] = [
    (SETAGAYA, "東京都世田谷区"),
    (YOKOHAMA, "神奈川県横浜市"),
    (OSAKA, "大阪府大阪市"),
    (SAPPORO, "北海道札幌市"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_valid() {
        let mut ids: Vec<_> = NODES
            .iter()
            .chain(&BENCH_NODES)
            .chain([&REGISTRY])
            .map(|s| s.id())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), NODES.len() + BENCH_NODES.len() + 1);
    }
}
