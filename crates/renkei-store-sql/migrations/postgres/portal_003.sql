-- Person proofs (the hub's signed statement that the person was present
-- with their card): what a card's approval yielded, the session's, and a
-- consent's; and the consent a confirmation gives.
ALTER TABLE challenges ADD COLUMN grant_ref TEXT;
ALTER TABLE challenges ADD COLUMN person_proof TEXT;
ALTER TABLE sessions ADD COLUMN person_proof TEXT;
ALTER TABLE grants ADD COLUMN person_proof TEXT;
-- The principal's card-confirmed authority for a proxy (the consent
-- reference and the hub's person proof of it).
ALTER TABLE invitations ADD COLUMN grant_ref TEXT;
ALTER TABLE invitations ADD COLUMN principal_proof TEXT;
ALTER TABLE proxies ADD COLUMN grant_ref TEXT;
ALTER TABLE proxies ADD COLUMN principal_proof TEXT;
