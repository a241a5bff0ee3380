//! Senders: the private organisations that deposit documents, screened by
//! an administrator exactly as the consent API's clients are (the same
//! states and actions, every change an event).

use renkei_consent::{Application, ApplicationError, Screened, ScreeningEvent, checked_text};
use renkei_ids::CorporateNumber;
use renkei_jose::Jwks;
use serde::{Deserialize, Serialize};

use crate::types::{DocumentTypeId, DocumentTypes};

renkei_consent::prefixed_id!(
    /// A sender id: `rs_` and 22 base64url characters (128 random bits).
    SenderId,
    "rs_",
    16
);

/// What kind of organisation sends, and so which document types it may
/// apply for: an employer cannot certify insurance premiums. The pension
/// service and health insurers are public senders: they deliver through
/// their nodes on the network, never through the deposit API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderKind {
    Employer,
    LifeInsurer,
    NonLifeInsurer,
    Bank,
    Securities,
    DonationPlatform,
    PensionService,
    HealthInsurer,
}

impl SenderKind {
    pub const ALL: [Self; 8] = [
        Self::Employer,
        Self::LifeInsurer,
        Self::NonLifeInsurer,
        Self::Bank,
        Self::Securities,
        Self::DonationPlatform,
        Self::PensionService,
        Self::HealthInsurer,
    ];

    /// A public sender: an institution on the network, whose documents
    /// come through the hub from its node.
    pub fn is_public(self) -> bool {
        matches!(self, Self::PensionService | Self::HealthInsurer)
    }

    /// The public sender kind that issues documents of type `name`.
    pub fn public_issuer_of(name: &str) -> Option<Self> {
        [Self::PensionService, Self::HealthInsurer]
            .into_iter()
            .find(|k| k.issues().contains(&name))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Employer => "employer",
            Self::LifeInsurer => "life_insurer",
            Self::NonLifeInsurer => "non_life_insurer",
            Self::Bank => "bank",
            Self::Securities => "securities",
            Self::DonationPlatform => "donation_platform",
            Self::PensionService => "pension_service",
            Self::HealthInsurer => "health_insurer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The document types (by name) this kind of sender issues.
    pub fn issues(self) -> &'static [&'static str] {
        match self {
            Self::Employer => &["withholding_slip", "monthly_earnings_report"],
            Self::LifeInsurer => &["life_insurance_certificate"],
            Self::NonLifeInsurer => &["earthquake_insurance_certificate"],
            // Banks lend for homes and, like securities firms, keep
            // specified accounts (investment trusts).
            Self::Bank => &["housing_loan_year_end_balance", "specified_account_annual_report"],
            Self::Securities => &["specified_account_annual_report"],
            Self::DonationPlatform => &["donation_receipt"],
            Self::PensionService => &["national_pension_premium_certificate"],
            Self::HealthInsurer => &["medical_expense_notice"],
        }
    }
}

/// A sender's application, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderApplication {
    pub corporate_number: CorporateNumber,
    pub name: String,
    pub name_en: Option<String>,
    pub kind: SenderKind,
    /// The keys its deposits are signed with (public keys only); none for
    /// a public sender, whose documents its node signs and seals with the
    /// network's certified keys.
    pub jwks: Option<Jwks>,
    pub document_types: Vec<DocumentTypeId>,
    pub contact: String,
}

/// The application as it arrives (JSON or flags), before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderForm {
    pub corporate_number: String,
    pub name: String,
    #[serde(default)]
    pub name_en: Option<String>,
    pub kind: String,
    /// A JWKS document (JSON object) of public signing keys.
    pub jwks: serde_json::Value,
    /// `withholding_slip.v1`, …
    pub document_types: Vec<String>,
    pub contact: String,
}

impl SenderForm {
    pub fn validate(&self, types: &DocumentTypes) -> Result<SenderApplication, ApplicationError> {
        let (corporate_number, name, name_en) = renkei_consent::checked_organisation(
            &self.corporate_number,
            &self.name,
            self.name_en.as_deref(),
        )?;
        let kind = SenderKind::parse(&self.kind).ok_or_else(|| {
            let kinds: Vec<&str> = SenderKind::ALL.iter().map(|k| k.as_str()).collect();
            ApplicationError::new(
                "kind",
                format!("{:?} is not one of {}", self.kind, kinds.join(", ")),
            )
        })?;
        if kind.is_public() {
            return Err(ApplicationError::new(
                "kind",
                format!(
                    "a {} is a public sender: it delivers through its node on the network and does not apply here",
                    kind.as_str()
                ),
            ));
        }
        if !self.jwks.is_object() {
            return Err(ApplicationError::new(
                "jwks",
                "must be a JWKS object ({\"keys\": [...]})",
            ));
        }
        let jwks =
            Jwks::parse(&self.jwks.to_string()).map_err(|e| ApplicationError::new("jwks", e.to_string()))?;
        if self.document_types.is_empty() || self.document_types.len() > 20 {
            return Err(ApplicationError::new("document_types", "name between 1 and 20"));
        }
        let mut document_types = Vec::new();
        for t in &self.document_types {
            let id = types.lookup(t).ok_or_else(|| {
                ApplicationError::new("document_types", format!("{t:?} is not a document type"))
            })?;
            if !id.deposit {
                return Err(ApplicationError::new(
                    "document_types",
                    format!("{t:?} is filed, not deposited"),
                ));
            }
            if !kind.issues().contains(&id.id.name.as_str()) {
                return Err(ApplicationError::new(
                    "document_types",
                    format!("a sender of kind {} does not issue {t:?}", kind.as_str()),
                ));
            }
            if !document_types.contains(&id.id) {
                document_types.push(id.id.clone());
            }
        }
        let contact = checked_text("contact", &self.contact, 200)?;
        Ok(SenderApplication {
            corporate_number,
            name,
            name_en,
            kind,
            jwks: Some(jwks),
            document_types,
            contact,
        })
    }
}

impl Application for SenderApplication {
    fn corporate_number(&self) -> CorporateNumber {
        self.corporate_number
    }
    fn transfer_to(&mut self, successor: CorporateNumber) {
        self.corporate_number = successor;
    }
}

/// A registered sender, screened as the consent API's clients are.
pub type Sender = Screened<SenderId, SenderApplication>;

/// One recorded change of a sender: every change is kept.
pub type SenderEvent = ScreeningEvent<SenderId>;
