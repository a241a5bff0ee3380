//! What a witness answers a log that shows it two views of itself.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SplitViewWire {
    pub origin: String,
    pub earlier_note: String,
    pub later_note: String,
}
