//! Households that moved between municipalities this year.

use std::collections::HashMap;

use crate::{Relationship, Resident};

/// Households with children living in municipality `to` (an index into the
/// municipalities `people` were generated for) that lived in municipality
/// `from` until this year: about one in eight, and at least one if `to` has
/// a household with children and `from` any resident. Each comes with the
/// address it had, drawn from the addresses of `from`'s residents.
pub fn moved_in(
    people: &[Resident],
    to: usize,
    from: usize,
    rng: &mut fastrand::Rng,
) -> HashMap<u32, String> {
    let from_addresses: Vec<&str> = people
        .iter()
        .filter(|r| r.municipality == from)
        .map(|r| r.address.as_str())
        .collect();
    let mut movers: HashMap<u32, String> = HashMap::new();
    for r in people {
        if r.municipality == to
            && r.relationship == Relationship::Child
            && !movers.contains_key(&r.household)
            && (rng.u8(..) < 32 || movers.is_empty())
            && !from_addresses.is_empty()
        {
            let previous = from_addresses[rng.usize(..from_addresses.len())].to_owned();
            movers.insert(r.household, previous);
        }
    }
    movers
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::{SETAGAYA, YOKOHAMA_NAKA, generate};

    #[test]
    fn movers_are_families_of_the_destination_with_an_address_of_the_origin() {
        let people = generate(4, 5_000, &[SETAGAYA, YOKOHAMA_NAKA], date!(2025 - 06 - 01));
        let mut rng = fastrand::Rng::with_seed(4);
        let movers = moved_in(&people, 0, 1, &mut rng);
        let families: std::collections::HashSet<u32> = people
            .iter()
            .filter(|r| r.municipality == 0 && r.relationship == Relationship::Child)
            .map(|r| r.household)
            .collect();
        assert!(!movers.is_empty());
        // About one family in eight (a draw per child).
        assert!(
            movers.len() * 3 < families.len(),
            "{} of {}",
            movers.len(),
            families.len()
        );
        for (household, previous) in &movers {
            assert!(families.contains(household));
            assert!(previous.starts_with("神奈川県横浜市中区"), "{previous}");
        }
        // Without anyone in the municipality of origin, nobody moves.
        let setagaya_only: Vec<Resident> = people.iter().filter(|r| r.municipality == 0).cloned().collect();
        assert!(moved_in(&setagaya_only, 0, 1, &mut rng).is_empty());
    }
}
