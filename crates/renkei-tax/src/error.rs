/// Why an input was refused. `field` is the JSON path of the offending value
/// (`withholding_slip.withholding_tax`, `medical_expense_notices[2].reimbursed`,
/// `year`), so a user can find it in the file they supplied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InputError {
    /// JSON path of the refused value.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl InputError {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
