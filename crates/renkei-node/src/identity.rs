use renkei_catalog::KindCode;
use renkei_crypto::{SealingKeyPair, SigningKey};
use renkei_ids::CorporateNumber;

/// Who this node speaks for, and its keys.
#[derive(Debug)]
pub struct NodeIdentity {
    pub institution: CorporateNumber,
    pub name: String,
    pub kind: KindCode,
    pub signing: SigningKey,
    pub sealing: SealingKeyPair,
    /// This institution's network certificate (DER), which certifies the
    /// two keys above; sent with every signed request and answer.
    pub certificate: Vec<u8>,
}
