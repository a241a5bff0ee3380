//! The registry's admin API: residents, their events and own codes.

use serde::{Deserialize, Serialize};

pub const MAX_REGISTRATION_BATCH: usize = 10_000;

/// A resident as a municipality registers them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidentWire {
    pub name: String,
    pub kana: String,
    pub address: String,
    pub birth_date: String,
    pub sex: u8,
    pub household: u64,
    /// The day the person took up the address (`YYYY-MM-DD`, not after
    /// today nor before the birth date); today when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_since: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub residents: Vec<ResidentWire>,
}

/// The My Numbers issued, in the order of the request. This is the
/// registry's own admin surface: the number goes back to the municipality
/// that notifies the person, nowhere else.
#[derive(Clone, Serialize, Deserialize)]
pub struct RegisterResult {
    pub my_numbers: Vec<String>,
    pub own_codes: usize,
}

impl std::fmt::Debug for RegisterResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RegisterResult({} numbers, {} own codes)",
            self.my_numbers.len(),
            self.own_codes
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FillResult {
    pub own_codes: usize,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressChange {
    pub my_number: String,
    pub address: String,
    /// The day of the move (`YYYY-MM-DD`, not after today nor before the
    /// start of the address left); today when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_on: Option<String>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeathReport {
    pub my_number: String,
    pub date: String,
}

impl std::fmt::Debug for AddressChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AddressChange(<redacted>)")
    }
}

impl std::fmt::Debug for DeathReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeathReport(<redacted>, {})", self.date)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventRecorded {
    pub event_seq: u64,
}

/// A change event (the person is not named here; subscriptions translate
/// events into each subscriber's institution code).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventWire {
    pub seq: u64,
    pub kind: String,
    pub at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistryHealth {
    pub status: String,
    pub role: String,
    pub residents: u64,
    pub events: u64,
    pub acquisitions: u64,
    pub cards: u64,
}
