/// The failure of a store behind one of the role crates' store traits.
/// Role logic only needs to know whether to retry, refuse or alarm; the
/// store implementation logs the details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or did not answer in time.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The write conflicts with what is stored (a unique key).
    #[error("conflict: {0}")]
    Conflict(String),
    /// What is stored cannot be read back into a valid value.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}
