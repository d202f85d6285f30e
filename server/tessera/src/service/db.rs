//! Where a service function reads and writes: the database's pool
//! ([`Store`], each `tx` its own transaction) or one transaction already
//! open ([`InTx`], each `tx` a savepoint in it). Service functions that
//! change a resource take `&impl Db`, so the console and the CLI call them
//! on the store as ever, and the management API runs them inside the
//! transaction that checked its `If-Match` (`service::precondition`).

use std::cell::{RefCell, RefMut};
use std::ops::DerefMut;
use tessera_store::{DbConn, Store, StoreError, row_lock};

/// A database to run a service function against.
pub trait Db {
    /// A connection for reads.
    type Conn<'a>: DerefMut<Target = DbConn>
    where
        Self: 'a;
    /// A connection for reads (the pool's, or the open transaction's, so a
    /// read sees what the transaction wrote).
    fn conn(&self) -> Result<Self::Conn<'_>, StoreError>;
    /// Runs `f` as one transaction (or a savepoint of the open one): any
    /// error rolls back what it did.
    fn tx<T>(&self, f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>) -> Result<T, StoreError>;
}

impl Db for Store {
    type Conn<'a> = tessera_store::conn::Conn;

    fn conn(&self) -> Result<Self::Conn<'_>, StoreError> {
        Store::conn(self)
    }

    fn tx<T>(&self, f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        Store::tx(self, f)
    }
}

/// A transaction already open on `conn`: everything run against it commits
/// or rolls back with it.
pub struct InTx<'c> {
    conn: RefCell<&'c mut DbConn>,
}

impl<'c> InTx<'c> {
    /// The transaction open on `conn`.
    pub fn new(conn: &'c mut DbConn) -> InTx<'c> {
        InTx { conn: RefCell::new(conn) }
    }
}

impl Db for InTx<'_> {
    type Conn<'a>
        = RefMut<'a, DbConn>
    where
        Self: 'a;

    fn conn(&self) -> Result<Self::Conn<'_>, StoreError> {
        // A service function holds at most one connection at a time; a
        // second borrow would be a bug, reported rather than a panic.
        let c = self
            .conn
            .try_borrow_mut()
            .map_err(|_| StoreError::Backend("the open transaction's connection is already in use".into()))?;
        Ok(RefMut::map(c, |c| &mut **c))
    }

    fn tx<T>(&self, f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        row_lock::nested(&mut *self.conn()?, f)
    }
}
