//! Delivery handles: how a sender names a person who linked it.
//!
//! A handle is an HMAC of the sender and the person's id at the portal
//! under a key only the portal holds, so it is the same each time the same
//! person links the same sender, different at every other sender (two
//! senders cannot join their customers on it), and says nothing about the
//! person: never a My Number, an institution code or the portal's own id.

use std::fmt;

use zeroize::Zeroizing;

use crate::sender::SenderId;

renkei_consent::prefixed_id!(
    /// `dh_` and 43 base64url characters (an HMAC-SHA-256).
    DeliveryHandle,
    "dh_",
    32
);

/// The portal's secret for handles (32 bytes, kept in a 0600 key file).
pub struct HandleKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for HandleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HandleKey(..)")
    }
}

impl HandleKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The handle of `person` (the portal's id for them) at `sender`.
    pub fn handle(&self, sender: &SenderId, person: &str) -> DeliveryHandle {
        let mac = renkei_crypto::hmac_sha256(
            self.0.as_ref(),
            &[
                b"renkei delivery handle",
                sender.as_str().as_bytes(),
                person.as_bytes(),
            ],
        );
        DeliveryHandle::from_random(mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_stable_per_sender_and_differ_between_senders() {
        let key = HandleKey::from_bytes([7; 32]);
        let a = SenderId::from_random([1; 16]);
        let b = SenderId::from_random([2; 16]);
        let h = key.handle(&a, "p-0001");
        assert_eq!(h, key.handle(&a, "p-0001"));
        assert_ne!(h, key.handle(&b, "p-0001"));
        assert_ne!(h, key.handle(&a, "p-0002"));
        assert_ne!(h, HandleKey::from_bytes([8; 32]).handle(&a, "p-0001"));
        assert!(!h.as_str().contains("p-0001"));
        assert_eq!(DeliveryHandle::parse(h.as_str()), Some(h.clone()));
        for bad in [
            "",
            "dh_",
            "xx_",
            &h.as_str()[1..],
            &format!("{h}A"),
            &h.as_str().replace('_', "/"),
        ] {
            assert!(DeliveryHandle::parse(bad).is_none(), "{bad}");
        }
    }
}
