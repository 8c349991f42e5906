//! Places per user: how many long-lived things (live views, log followers, consoles) one user
//! holds open at once in this process, each place given back when its [`Seat`] is dropped.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Seats {
    open: Arc<Mutex<HashMap<i64, usize>>>,
}

/// One place held; given back when dropped.
pub struct Seat {
    open: Arc<Mutex<HashMap<i64, usize>>>,
    user: i64,
}

impl Drop for Seat {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock()
            && let Some(n) = open.get_mut(&self.user)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.user);
            }
        }
    }
}

impl Seats {
    /// A place for one more of `user`'s, unless they hold `cap` already.
    pub fn take(&self, user: i64, cap: usize) -> Option<Seat> {
        let mut open = self.open.lock().ok()?;
        let n = open.entry(user).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(Seat { open: self.open.clone(), user })
    }

    /// How many `user` holds now.
    pub fn held(&self, user: i64) -> usize {
        self.open.lock().map(|o| o.get(&user).copied().unwrap_or(0)).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_are_capped_per_user_and_given_back() {
        let seats = Seats::default();
        let a = seats.take(1, 2).unwrap();
        let _b = seats.take(1, 2).unwrap();
        assert!(seats.take(1, 2).is_none());
        assert!(seats.take(2, 2).is_some());
        drop(a);
        assert_eq!(seats.held(1), 1);
        assert!(seats.take(1, 2).is_some());
    }
}
