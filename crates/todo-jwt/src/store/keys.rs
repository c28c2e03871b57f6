//! The signing keys repository: the rows the token keys are built from (by the keys module,
//! which seals, opens and rotates them).

use super::{
    StoreError,
    run::{Run, Statement},
};

/// One signing key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Its id: the RFC 7638 thumbprint of an Ed25519 key, `hs256-<generation>` for HS256.
    pub kid: String,
    /// Its place in the order keys were added (unique: two rotations at once cannot both
    /// take the same one).
    pub generation: i64,
    /// `EdDSA` or `HS256`.
    pub algorithm: String,
    /// The Ed25519 public key (32 bytes); `None` for HS256.
    pub public_key: Option<Vec<u8>>,
    /// What the secret sealed, over every other field of the row (`keys::sealing` says how):
    /// the Ed25519 private seed, or for HS256 nothing but the seal. `None` only in an HS256
    /// row from before rows were sealed (re-sealed at the next start).
    pub sealed_private_key: Option<Vec<u8>>,
    /// When it was added, in Unix seconds.
    pub created_at: i64,
    /// From when it signs, in Unix seconds.
    pub signs_from: i64,
}

/// The statements each engine implements for [`SigningKeys`].
#[async_trait::async_trait]
pub trait KeyStatements: Send + Sync {
    /// Every key, by generation.
    async fn keys_list(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Stores `record` unless its id or generation is taken; whether it was stored.
    async fn keys_add(&self, record: KeyRecord) -> Result<bool, StoreError>;
    /// Removes the key `kid`; how many rows (0 or 1).
    async fn keys_remove(&self, kid: &str) -> Result<u64, StoreError>;
    /// Every key, by generation, locked until the transaction ends (PostgreSQL).
    async fn keys_list_locked(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Replaces the sealed material of the key `kid`; how many rows (0 or 1).
    async fn keys_reseal(&self, kid: &str, sealed: &Option<Vec<u8>>) -> Result<u64, StoreError>;
}

/// The signing keys.
#[derive(Clone, Copy)]
pub struct SigningKeys<'a>(pub(super) &'a dyn KeyStatements);

impl SigningKeys<'_> {
    /// Every key, oldest generation first.
    pub async fn list(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.0.keys_list().await
    }

    /// Stores `record`; `false` when its id or generation is already taken (another instance
    /// added a key at the same time).
    pub async fn add(&self, record: KeyRecord) -> Result<bool, StoreError> {
        self.0.keys_add(record).await
    }

    /// Removes the key `kid`.
    pub async fn remove(&self, kid: &str) -> Result<u64, StoreError> {
        self.0.keys_remove(kid).await
    }

    /// Every key, oldest generation first, locked until the transaction ends: in a
    /// transaction, another instance's [`SigningKeys::list_locked`] waits for it, then reads
    /// what it wrote (PostgreSQL; on SQLite the one writer serialises transactions already).
    pub async fn list_locked(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.0.keys_list_locked().await
    }

    /// Replaces the sealed material of the key `kid` (a re-seal in a newer format); whether
    /// the key was there.
    pub async fn reseal(&self, kid: &str, sealed: &Option<Vec<u8>>) -> Result<bool, StoreError> {
        Ok(self.0.keys_reseal(kid, sealed).await? == 1)
    }
}

/// The statements, once for both engines.
#[async_trait::async_trait]
impl<X: Run> KeyStatements for X {
    async fn keys_list(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.all(Statement::read(&self.sql().keys.list, &[])).await
    }

    async fn keys_add(&self, record: KeyRecord) -> Result<bool, StoreError> {
        let params = [
            (&record.kid).into(),
            record.generation.into(),
            (&record.algorithm).into(),
            (&record.public_key).into(),
            (&record.sealed_private_key).into(),
            record.created_at.into(),
            record.signs_from.into(),
        ];
        let added = self
            .execute(Statement::write(&self.sql().keys.add, &params))
            .await?;
        Ok(added == 1)
    }

    async fn keys_remove(&self, kid: &str) -> Result<u64, StoreError> {
        self.execute(Statement::write(&self.sql().keys.remove, &[kid.into()]))
            .await
    }

    async fn keys_list_locked(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.all(Statement::write(&self.sql().keys.list_locked, &[]))
            .await
    }

    async fn keys_reseal(&self, kid: &str, sealed: &Option<Vec<u8>>) -> Result<u64, StoreError> {
        let params = [sealed.into(), kid.into()];
        self.execute(Statement::write(&self.sql().keys.reseal, &params))
            .await
    }
}
