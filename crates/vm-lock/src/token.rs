// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Tokens: zero-sized proofs of "level `L` is the innermost level held on this thread".

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use crate::error::Error;
use crate::level::Unlocked;
use crate::relation::{Level, MayBlock};

/// Proof that `L` is the innermost lock level held by this thread.
///
/// Zero-sized, `!Send`, `!Sync`, not `Clone`. A token for a level other than
/// [`Unlocked`] is only made by locking something of that level, and it mutably borrows the
/// token it was made from for `'t`: while you hold it, the outer token cannot be used, so
/// "reuse of an outer token" is a borrow error.
pub struct Token<'t, L: Level> {
    /// Borrows the parent token for `'t`.
    _borrow: PhantomData<&'t mut ()>,
    /// Makes the token `!Send` and `!Sync`: a token speaks for one thread.
    _not_send: PhantomData<*const ()>,
    /// The level.
    _level: PhantomData<fn() -> L>,
}

impl<L: Level> Token<'_, L> {
    /// Makes a token. Crate-private: tokens come from [`Root`] or from locking.
    pub(crate) const fn new() -> Self {
        Token {
            _borrow: PhantomData,
            _not_send: PhantomData,
            _level: PhantomData,
        }
    }

    /// The name of this token's level.
    pub const fn level_name(&self) -> &'static str {
        L::NAME
    }
}

impl<'t, L: MayBlock> Token<'t, L> {
    /// This token as the thread's [`Unlocked`] token, which it is: only `Unlocked` is
    /// [`MayBlock`]. Lets an API take `&mut Token<P>` with `P: MayBlock` (for the readable
    /// "cannot block while holding `XenLock`" error) and still lock from the root.
    pub fn unlocked(&mut self) -> &mut Token<'t, Unlocked> {
        L::unlocked(self)
    }
}

impl<L: Level> fmt::Debug for Token<'_, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token<{}>", L::NAME)
    }
}

thread_local! {
    static ROOT_TAKEN: Cell<bool> = const { Cell::new(false) };
}

/// The root of a thread's lock hierarchy: owns the thread's [`Unlocked`] token.
///
/// At most one checked root per thread ([`Root::new`]); dropping it lets the thread make a
/// new one. `!Send`, so it stays on the thread it was checked on.
pub struct Root {
    token: Token<'static, Unlocked>,
    checked: bool,
}

impl Root {
    /// Takes this thread's root.
    ///
    /// # Errors
    /// [`Error::RootExists`] if this thread already holds a root made by `Root::new`.
    pub fn new() -> Result<Root, Error> {
        ROOT_TAKEN.with(|taken| {
            if taken.replace(true) {
                Err(Error::RootExists)
            } else {
                Ok(Root {
                    token: Token::new(),
                    checked: true,
                })
            }
        })
    }

    /// Makes a root without the per-thread check.
    ///
    /// # Safety
    /// The caller must ensure this thread holds no lock obtained through another root
    /// while this root's token is used, i.e. the thread really is at [`Unlocked`] whenever
    /// this root's token is used. Two live roots on one thread let it lock an outer level
    /// while holding an inner one, which is the deadlock this crate exists to prevent.
    pub unsafe fn new_unchecked() -> Root {
        Root {
            token: Token::new(),
            checked: false,
        }
    }

    /// The thread's [`Unlocked`] token.
    pub fn token(&mut self) -> &mut Token<'static, Unlocked> {
        &mut self.token
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        if self.checked {
            // `try_with`: the thread-local may already be gone if a root is dropped during
            // thread teardown; then there is nothing to release.
            let _ = ROOT_TAKEN.try_with(|taken| taken.set(false));
        }
    }
}

impl fmt::Debug for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Root")
            .field("checked", &self.checked)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_root_per_thread() {
        let root = Root::new().unwrap();
        assert!(matches!(Root::new(), Err(Error::RootExists)));
        drop(root);
        let _again = Root::new().unwrap();
    }

    #[test]
    fn other_threads_have_their_own_root() {
        let _root = Root::new().unwrap();
        std::thread::spawn(|| {
            let _r = Root::new().unwrap();
            assert!(Root::new().is_err());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn unchecked_root_does_not_release_the_checked_one() {
        let _root = Root::new().unwrap();
        // SAFETY: the unchecked root's token is never used to lock anything.
        let unchecked = unsafe { Root::new_unchecked() };
        drop(unchecked);
        assert!(matches!(Root::new(), Err(Error::RootExists)));
    }

    #[test]
    fn token_names_its_level() {
        let mut root = Root::new().unwrap();
        assert_eq!(root.token().level_name(), "Unlocked");
        assert_eq!(format!("{:?}", root.token()), "Token<Unlocked>");
    }
}
