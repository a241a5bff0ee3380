//! Delivery of newly issued institution codes: the hub seals them to the
//! institution's HPKE key, bound to the acquisition numbers the institution
//! used, and the registry relays the envelope without being able to read it.

use renkei_crypto::{CryptoError, Envelope, SealingKeyPair, SealingPublicKey, sha256};
use renkei_ids::{AcquisitionNumber, CorporateNumber, InstitutionCode};

use crate::canon::Canon;

const INFO: &[u8] = b"renkei/code-delivery/v1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredCode {
    pub acquisition_number: AcquisitionNumber,
    pub code: InstitutionCode,
}

/// The sealed delivery of a batch of codes to one institution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeDelivery {
    pub institution: CorporateNumber,
    pub envelope: Envelope,
}

fn aad(institution: &CorporateNumber, acquisition_numbers: &[AcquisitionNumber]) -> Vec<u8> {
    let mut sorted: Vec<String> = acquisition_numbers.iter().map(ToString::to_string).collect();
    sorted.sort();
    let list = sha256(&sorted.iter().map(|s| s.as_bytes()).collect::<Vec<_>>());
    Canon::new("renkei/code-delivery-aad/v1")
        .str(&institution.to_string())
        .bytes(&list)
        .finish()
}

impl CodeDelivery {
    pub fn seal(
        institution: CorporateNumber,
        key: &SealingPublicKey,
        codes: &[DeliveredCode],
    ) -> Result<Self, CryptoError> {
        let mut text = String::with_capacity(codes.len() * 96);
        for c in codes {
            text.push_str(&c.acquisition_number.to_string());
            text.push('\t');
            text.push_str(&c.code.to_string());
            text.push('\n');
        }
        let acqs: Vec<_> = codes.iter().map(|c| c.acquisition_number).collect();
        let envelope = key.seal(INFO, &aad(&institution, &acqs), text.as_bytes())?;
        Ok(Self {
            institution,
            envelope,
        })
    }

    /// Open with the institution's key. `expected` are the acquisition
    /// numbers the institution sent for the codes it was told were issued;
    /// the delivery must cover exactly those.
    pub fn open(
        &self,
        key: &SealingKeyPair,
        expected: &[AcquisitionNumber],
    ) -> Result<Vec<DeliveredCode>, CryptoError> {
        let plain = key.open(&self.envelope, INFO, &aad(&self.institution, expected))?;
        let text = std::str::from_utf8(&plain).map_err(|_| CryptoError::OpenFailed)?;
        let bad = CryptoError::Malformed {
            what: "code delivery",
            reason: "a line is not `<acquisition number>\\t<code>`",
        };
        text.lines()
            .map(|line| {
                let (a, c) = line.split_once('\t').ok_or(bad.clone())?;
                Ok(DeliveredCode {
                    acquisition_number: AcquisitionNumber::parse(a).map_err(|_| bad.clone())?,
                    code: InstitutionCode::parse(c).map_err(|_| bad.clone())?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_crypto::{CodeKeyring, SealingAlgorithm};
    use renkei_ids::LinkId;

    #[test]
    fn delivery_opens_only_for_the_batch_it_was_made_for() {
        let inst = CorporateNumber::from_base_number(5).unwrap();
        let key = SealingKeyPair::generate(SealingAlgorithm::X25519Sha256ChaCha20Poly1305);
        let ring = CodeKeyring::generate();
        let codes: Vec<_> = (0..3)
            .map(|_| DeliveredCode {
                acquisition_number: AcquisitionNumber::random(),
                code: ring.encode(&LinkId::random(), &inst),
            })
            .collect();
        let acqs: Vec<_> = codes.iter().map(|c| c.acquisition_number).collect();
        let d = CodeDelivery::seal(inst, &key.public_key(), &codes).unwrap();
        assert_eq!(d.open(&key, &acqs).unwrap(), codes);
        // The registry cannot swap in a delivery made for other numbers.
        assert_eq!(d.open(&key, &acqs[..2]), Err(CryptoError::OpenFailed));
    }
}
