// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The store: nodes with permissions and generations, the operations of the
//! wire protocol on them (with xenstored's permission rules and quotas), in
//! or outside a transaction, and the watch events they raise.
//!
//! Every node is explicit (writing `/a/b/c` creates `/a/b` if missing, with
//! its parent's permissions; an unprivileged creator owns what it creates).
//! A caller's access to a node: a privileged caller (dom0) and the owner
//! (first permission entry) have full access; another domain has the access
//! of its own entry, else that of the first entry.
//!
//! A transaction reads the live store at first access and records the
//! node's generation; its changes stay in the transaction. The commit fails
//! with `EAGAIN` if a node it accessed changed since (or had changed since
//! the transaction started when it was first accessed), else applies the
//! changes and fires their watches.

use std::collections::{BTreeMap, BTreeSet};

use crate::state::{Node, Perm, PermKind, Quotas, Transaction};
use crate::tree;
use crate::wire::XsErr;

/// Most nodes the store holds in all (whatever the quotas): `ENOSPC` beyond.
pub const MAX_NODES: usize = 4096;

/// Who is asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Caller {
    pub(crate) domid: u16,
    pub(crate) privileged: bool,
}

/// Access a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    Read,
    Write,
    /// Write access as the owner (`XS_SET_PERMS`).
    Owner,
}

/// A change watches see: the node (absolute or special path), whether
/// only watches on exactly that node fire (a node removed below the one
/// an `XS_RM` names) or also those above it, and the node's permissions (a
/// watcher must be able to read the node).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fired {
    pub(crate) path: String,
    pub(crate) exact: bool,
    pub(crate) perms: Vec<Perm>,
}

/// `caller`'s access under `perms`: (read, write, owner).
pub(crate) fn access(perms: &[Perm], caller: Caller) -> (bool, bool, bool) {
    if caller.privileged {
        return (true, true, true);
    }
    let Some(first) = perms.first() else {
        return (false, false, false);
    };
    if first.domid == caller.domid {
        return (true, true, true);
    }
    let kind = perms[1..]
        .iter()
        .find(|p| p.domid == caller.domid)
        .map_or(first.kind, |p| p.kind);
    (kind.read(), kind.write(), false)
}

fn allowed(perms: &[Perm], caller: Caller, need: Need) -> bool {
    let (r, w, o) = access(perms, caller);
    match need {
        Need::Read => r,
        Need::Write => w,
        Need::Owner => w && o,
    }
}

/// The live store.
#[derive(Clone, Debug, Default)]
pub(crate) struct Store {
    pub(crate) nodes: BTreeMap<String, Node>,
    /// Generation counter: bumped by every change of the live store.
    pub(crate) generation: u64,
    /// Nodes each domain owns.
    owned: BTreeMap<u16, u32>,
    pub(crate) quotas: Quotas,
    /// Watch events raised and not yet handed to the connections.
    pub(crate) fired: Vec<Fired>,
}

fn owner(n: &Node) -> Option<u16> {
    n.perms.first().map(|p| p.domid)
}

/// Size of a node as xenstored accounts it (header, permissions, value,
/// children's names).
fn node_size(n: &Node, childlen: usize) -> usize {
    12 + 8 * n.perms.len() + n.value.len() + childlen
}

impl Store {
    /// A store of `nodes` (already normalized: every node has permissions
    /// and its parent exists).
    pub(crate) fn new(nodes: BTreeMap<String, Node>, generation: u64, quotas: Quotas) -> Self {
        let mut owned = BTreeMap::new();
        for n in nodes.values() {
            if let Some(o) = owner(n) {
                *owned.entry(o).or_insert(0u32) += 1;
            }
        }
        let generation = nodes
            .values()
            .map(|n| n.generation)
            .max()
            .unwrap_or(0)
            .max(generation);
        Store {
            nodes,
            generation,
            owned,
            quotas,
            fired: Vec::new(),
        }
    }

    fn count(&mut self, n: &Node, delta: i64) {
        if let Some(o) = owner(n) {
            let c = self.owned.entry(o).or_insert(0);
            *c = (i64::from(*c) + delta).clamp(0, i64::from(u32::MAX)) as u32;
        }
    }

    /// Nodes `domid` owns, counting the changes of `tx`.
    fn owned_by(&self, domid: u16, tx: Option<&Transaction>) -> i64 {
        let mut n = i64::from(self.owned.get(&domid).copied().unwrap_or(0));
        if let Some(t) = tx {
            for (p, new) in &t.changes {
                if self.nodes.get(p).and_then(owner) == Some(domid) {
                    n -= 1;
                }
                if new.as_ref().and_then(owner) == Some(domid) {
                    n += 1;
                }
            }
        }
        n
    }

    /// Reads a node (through the transaction's changes, recording the
    /// access).
    pub(crate) fn lookup(
        &self,
        tx: Option<&mut Transaction>,
        path: &str,
    ) -> Result<Option<Node>, XsErr> {
        let Some(t) = tx else {
            return Ok(self.nodes.get(path).cloned());
        };
        if let Some(c) = t.changes.get(path) {
            return Ok(c.clone());
        }
        let live = self.nodes.get(path);
        if !t.accessed.contains_key(path) {
            if t.accessed.len() >= self.quotas.nodes_per_transaction as usize {
                return Err(XsErr::Enospc);
            }
            let changed_since = match live {
                Some(n) => n.generation > t.start_generation,
                // Gone or never there: a removal or creation since the
                // start changed the nearest existing ancestor.
                None => {
                    let mut a = path;
                    loop {
                        if a == "/" || tree::is_special(a) {
                            break false;
                        }
                        a = tree::parent(a);
                        if let Some(n) = self.nodes.get(a) {
                            break n.generation > t.start_generation;
                        }
                    }
                }
            };
            t.doomed |= changed_since;
            t.accessed
                .insert(path.to_string(), live.map(|n| n.generation));
        }
        Ok(live.cloned())
    }

    /// Stores (or with `None` removes) a node, in the transaction or live.
    fn put(
        &mut self,
        tx: Option<&mut Transaction>,
        path: &str,
        node: Option<Node>,
    ) -> Result<(), XsErr> {
        if let Some(t) = tx {
            self.lookup(Some(t), path)?;
            t.changes.insert(path.to_string(), node);
            return Ok(());
        }
        self.put_live(path, node);
        Ok(())
    }

    fn put_live(&mut self, path: &str, node: Option<Node>) {
        if let Some(old) = self.nodes.remove(path) {
            self.count(&old, -1);
        }
        if let Some(mut n) = node {
            self.generation += 1;
            n.generation = self.generation;
            self.count(&n, 1);
            self.nodes.insert(path.to_string(), n);
        }
    }

    /// Names of the direct children of `path`, sorted.
    pub(crate) fn children(&self, tx: Option<&Transaction>, path: &str) -> Vec<String> {
        let prefix = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        let direct = |k: &str| -> Option<String> {
            let rest = k.strip_prefix(prefix.as_str())?;
            (!rest.is_empty() && !rest.contains('/')).then(|| rest.to_string())
        };
        let mut out = BTreeSet::new();
        for (k, _) in self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(prefix.as_str()))
        {
            if let Some(c) = direct(k) {
                out.insert(c);
            }
        }
        if let Some(t) = tx {
            for (k, v) in t
                .changes
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(prefix.as_str()))
            {
                if let Some(c) = direct(k) {
                    if v.is_some() {
                        out.insert(c);
                    } else {
                        out.remove(&c);
                    }
                }
            }
        }
        out.into_iter().collect()
    }

    /// Every node below `path` (not `path` itself), deepest last.
    fn descendants(&self, tx: Option<&Transaction>, path: &str) -> Vec<String> {
        let prefix = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        let mut out: BTreeSet<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(prefix.as_str()))
            .map(|(k, _)| k.clone())
            .filter(|k| k != "/")
            .collect();
        if let Some(t) = tx {
            for (k, v) in t
                .changes
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(prefix.as_str()))
            {
                if v.is_some() {
                    out.insert(k.clone());
                } else {
                    out.remove(k);
                }
            }
        }
        out.into_iter().collect()
    }

    fn childlen(&self, tx: Option<&Transaction>, path: &str) -> usize {
        self.children(tx, path).iter().map(|c| c.len() + 1).sum()
    }

    /// The node at `path` if `caller` has `need` on it; else `EACCES`, or
    /// for a missing node `ENOENT` (`EACCES` if the nearest existing
    /// ancestor does not grant `need` either: no probing of unreadable
    /// trees).
    pub(crate) fn get(
        &self,
        mut tx: Option<&mut Transaction>,
        caller: Caller,
        path: &str,
        need: Need,
    ) -> Result<Node, XsErr> {
        match self.lookup(tx.as_deref_mut(), path)? {
            Some(n) if allowed(&n.perms, caller, need) => Ok(n),
            Some(_) => Err(XsErr::Eacces),
            None => Err(self.errno_from_parents(tx, caller, path, need)),
        }
    }

    fn errno_from_parents(
        &self,
        mut tx: Option<&mut Transaction>,
        caller: Caller,
        path: &str,
        need: Need,
    ) -> XsErr {
        if tree::is_special(path) {
            return XsErr::Enoent;
        }
        let mut a = path;
        while a != "/" {
            a = tree::parent(a);
            match self.lookup(tx.as_deref_mut(), a) {
                Err(e) => return e,
                Ok(Some(n)) => {
                    let need = if need == Need::Owner {
                        Need::Write
                    } else {
                        need
                    };
                    return if allowed(&n.perms, caller, need) {
                        XsErr::Enoent
                    } else {
                        XsErr::Eacces
                    };
                }
                Ok(None) => {}
            }
        }
        XsErr::Enoent
    }

    fn check_size(
        &self,
        tx: Option<&Transaction>,
        caller: Caller,
        path: &str,
        n: &Node,
        extra_child: usize,
    ) -> Result<(), XsErr> {
        if caller.privileged {
            return Ok(());
        }
        let size = node_size(n, self.childlen(tx, path) + extra_child);
        if size >= self.quotas.node_size as usize {
            return Err(XsErr::Enospc);
        }
        Ok(())
    }

    fn fire(&mut self, tx: Option<&mut Transaction>, path: &str, exact: bool, perms: &[Perm]) {
        match tx {
            Some(t) => {
                let ev = (path.to_string(), exact);
                if !t.events.contains(&ev) {
                    t.events.push(ev);
                }
            }
            None => self.fired.push(Fired {
                path: path.to_string(),
                exact,
                perms: perms.to_vec(),
            }),
        }
    }

    /// Fires a special watch (`@introduceDomain`, `@releaseDomain`).
    pub(crate) fn fire_special(&mut self, name: &str) {
        let perms = self
            .nodes
            .get(name)
            .map(|n| n.perms.clone())
            .unwrap_or_default();
        self.fire(None, name, false, &perms);
    }

    /// `XS_WRITE` (`mkdir`: `XS_MKDIR`, which leaves an existing node as
    /// it is).
    pub(crate) fn write(
        &mut self,
        mut tx: Option<&mut Transaction>,
        caller: Caller,
        path: &str,
        value: &[u8],
        mkdir: bool,
    ) -> Result<(), XsErr> {
        if tree::is_special(path) {
            return Err(XsErr::Einval);
        }
        match self.get(tx.as_deref_mut(), caller, path, Need::Write) {
            Ok(mut n) => {
                if mkdir {
                    return Ok(());
                }
                n.value = value.to_vec();
                self.check_size(tx.as_deref(), caller, path, &n, 0)?;
                let perms = n.perms.clone();
                self.put(tx.as_deref_mut(), path, Some(n))?;
                self.fire(tx, path, false, &perms);
                Ok(())
            }
            Err(XsErr::Enoent) => self.create(tx, caller, path, value),
            Err(e) => Err(e),
        }
    }

    fn create(
        &mut self,
        mut tx: Option<&mut Transaction>,
        caller: Caller,
        path: &str,
        value: &[u8],
    ) -> Result<(), XsErr> {
        let mut missing = vec![path.to_string()];
        let mut anc = tree::parent(path).to_string();
        let parent = loop {
            match self.lookup(tx.as_deref_mut(), &anc)? {
                Some(n) => break n,
                None => {
                    missing.push(anc.clone());
                    anc = tree::parent(&anc).to_string();
                }
            }
        };
        if !allowed(&parent.perms, caller, Need::Write) {
            return Err(XsErr::Eacces);
        }
        let mut perms = parent.perms.clone();
        if !caller.privileged {
            if let Some(p) = perms.first_mut() {
                p.domid = caller.domid;
            }
            let owned = self.owned_by(caller.domid, tx.as_deref());
            if owned + missing.len() as i64 > i64::from(self.quotas.entries_per_domain) {
                return Err(XsErr::Enospc);
            }
        }
        let live_new = missing
            .iter()
            .filter(|p| !self.nodes.contains_key(p.as_str()))
            .count();
        if self.nodes.len() + live_new > MAX_NODES {
            return Err(XsErr::Enospc);
        }
        let leaf = Node {
            value: value.to_vec(),
            perms: perms.clone(),
            generation: 0,
        };
        self.check_size(tx.as_deref(), caller, path, &leaf, 0)?;
        // The existing ancestor gains a child (its generation changes).
        let top = missing.last().map(String::as_str).unwrap_or(path);
        let name_len = top.rsplit('/').next().map_or(0, str::len) + 1;
        self.check_size(tx.as_deref(), caller, &anc, &parent, name_len)?;
        self.put(tx.as_deref_mut(), &anc, Some(parent))?;
        for p in missing.iter().rev() {
            let n = Node {
                value: if p == path {
                    value.to_vec()
                } else {
                    Vec::new()
                },
                perms: perms.clone(),
                generation: 0,
            };
            self.put(tx.as_deref_mut(), p, Some(n))?;
        }
        self.fire(tx, path, false, &perms);
        Ok(())
    }

    /// `XS_RM`.
    pub(crate) fn rm(
        &mut self,
        mut tx: Option<&mut Transaction>,
        caller: Caller,
        path: &str,
    ) -> Result<(), XsErr> {
        if path == "/" || tree::is_special(path) {
            return Err(XsErr::Einval);
        }
        let node = match self.get(tx.as_deref_mut(), caller, path, Need::Write) {
            Ok(n) => n,
            Err(XsErr::Enoent) => {
                // Already gone: fine if the parent exists.
                return match self.lookup(tx, tree::parent(path))? {
                    Some(_) => Ok(()),
                    None => Err(XsErr::Enoent),
                };
            }
            Err(e) => return Err(e),
        };
        let below = self.descendants(tx.as_deref(), path);
        if let Some(t) = tx.as_deref_mut() {
            // Every removed node is accessed: check before changing anything.
            let new = below
                .iter()
                .filter(|p| {
                    !t.accessed.contains_key(p.as_str()) && !t.changes.contains_key(p.as_str())
                })
                .count();
            if t.accessed.len() + new + 1 > self.quotas.nodes_per_transaction as usize {
                return Err(XsErr::Enospc);
            }
        }
        let parent_path = tree::parent(path).to_string();
        let parent = self.lookup(tx.as_deref_mut(), &parent_path)?;
        for p in below.iter().rev() {
            let n = self.lookup(tx.as_deref_mut(), p)?;
            self.put(tx.as_deref_mut(), p, None)?;
            // Watches on each removed node below fire (xenstored: exactly
            // on that node).
            if let Some(n) = n {
                self.fire(tx.as_deref_mut(), p, true, &n.perms);
            }
        }
        self.put(tx.as_deref_mut(), path, None)?;
        if let Some(parent) = parent {
            self.put(tx.as_deref_mut(), &parent_path, Some(parent))?;
        }
        self.fire(tx, path, false, &node.perms);
        Ok(())
    }

    /// `XS_SET_PERMS`.
    pub(crate) fn set_perms(
        &mut self,
        mut tx: Option<&mut Transaction>,
        caller: Caller,
        path: &str,
        perms: Vec<Perm>,
    ) -> Result<(), XsErr> {
        if perms.is_empty() {
            return Err(XsErr::Einval);
        }
        if !caller.privileged && perms.len() > self.quotas.perms_per_node as usize {
            return Err(XsErr::Enospc);
        }
        let mut n = self.get(tx.as_deref_mut(), caller, path, Need::Owner)?;
        if !caller.privileged && owner(&n) != Some(perms[0].domid) {
            return Err(XsErr::Eperm);
        }
        n.perms = perms;
        self.check_size(tx.as_deref(), caller, path, &n, 0)?;
        let p = n.perms.clone();
        self.put(tx.as_deref_mut(), path, Some(n))?;
        // xenstored fires no watch for a special node's permissions.
        if !tree::is_special(path) {
            self.fire(tx, path, false, &p);
        }
        Ok(())
    }

    /// `XS_TRANSACTION_END` with `T`: applies `t` unless a node it
    /// accessed changed (`EAGAIN`).
    pub(crate) fn commit(&mut self, t: Transaction, caller: Caller) -> Result<(), XsErr> {
        if t.doomed {
            return Err(XsErr::Eagain);
        }
        for (p, g) in &t.accessed {
            if self.nodes.get(p).map(|n| n.generation) != *g {
                return Err(XsErr::Eagain);
            }
        }
        if !caller.privileged
            && self.owned_by(caller.domid, Some(&t)) > i64::from(self.quotas.entries_per_domain)
        {
            return Err(XsErr::Enospc);
        }
        let new = t
            .changes
            .iter()
            .filter(|(p, n)| n.is_some() && !self.nodes.contains_key(p.as_str()))
            .count();
        if self.nodes.len() + new > MAX_NODES {
            return Err(XsErr::Enospc);
        }
        for (p, n) in t.changes {
            self.put_live(&p, n);
        }
        for (p, exact) in t.events {
            // A removed node: the nearest existing ancestor's permissions.
            let mut a = p.as_str();
            let perms = loop {
                if let Some(n) = self.nodes.get(a) {
                    break n.perms.clone();
                }
                if a == "/" {
                    break Vec::new();
                }
                a = tree::parent(a);
            };
            self.fire(None, &p, exact, &perms);
        }
        Ok(())
    }
}

/// Parses the permission strings of `XS_SET_PERMS`.
pub(crate) fn parse_perms(v: &[&str]) -> Result<Vec<Perm>, XsErr> {
    v.iter()
        .map(|s| Perm::parse(s).ok_or(XsErr::Einval))
        .collect()
}

/// The permissions a node of a toolstack-built (or older snapshot's) store
/// gets: guest-owned under a writable prefix, else owned by dom0 and
/// readable by the guest; special nodes dom0's only.
pub(crate) fn derived_perms(domid: u16, writable: &[String], path: &str) -> Vec<Perm> {
    if tree::is_special(path) {
        return vec![Perm {
            domid: 0,
            kind: PermKind::None,
        }];
    }
    if writable.iter().any(|w| tree::under(path, w)) {
        vec![Perm {
            domid,
            kind: PermKind::None,
        }]
    } else {
        vec![
            Perm {
                domid: 0,
                kind: PermKind::None,
            },
            Perm {
                domid,
                kind: PermKind::Read,
            },
        ]
    }
}
