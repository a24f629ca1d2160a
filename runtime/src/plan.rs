//! The planner: turns the dependency graph, the applied history and a target
//! into ordered steps. Pure code with no I/O.
//!
//! The canonical order is a topological order of the graph in which, whenever
//! several migrations are ready, the lowest version goes first. It depends only
//! on the set of migrations and their edges, never on the order they were
//! registered in.

use crate::version::Version;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

/// One migration as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub version: Version,
    pub depends_on: Vec<Version>,
    pub reversible: bool,
}

/// Why a set of nodes is not a graph the planner can order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphProblem {
    Duplicate {
        version: Version,
    },
    UnknownDependency {
        version: Version,
        missing: Version,
    },
    /// `path[0]` depends on `path[1]`, ..., and the last depends on `path[0]`.
    Cycle {
        path: Vec<Version>,
    },
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    UnknownVersion(Version),
    NotApplied(Version),
    Irreversible(Version),
    /// An applied migration the plan would revert is not in the graph.
    NotInGraph(Version),
}

/// How far to revert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevertTarget {
    /// The last N applied migrations, plus any applied dependents of them.
    Steps(usize),
    /// Everything applied after this version in the canonical order; the version itself stays.
    To(Version),
}

/// One migration to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedStep {
    pub version: Version,
    /// Older than a migration that is already applied.
    pub out_of_order: bool,
}

#[derive(Debug, Clone)]
pub struct Graph {
    versions: Vec<Version>,
    index: HashMap<Version, usize>,
    depends_on: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
    reversible: Vec<bool>,
    /// Node indices in canonical order.
    order: Vec<usize>,
    /// For each node index, its place in `order`.
    position: Vec<usize>,
}

impl Graph {
    /// Builds and orders the graph, or reports every problem found.
    pub fn new(nodes: impl IntoIterator<Item = Node>) -> Result<Graph, Vec<GraphProblem>> {
        let mut by_version: BTreeMap<Version, Node> = BTreeMap::new();
        let mut problems = Vec::new();
        for node in nodes {
            let version = node.version;
            if by_version.insert(version, node).is_some() {
                problems.push(GraphProblem::Duplicate { version });
            }
        }
        let versions: Vec<Version> = by_version.keys().copied().collect();
        let index: HashMap<Version, usize> = versions.iter().enumerate().map(|(i, v)| (*v, i)).collect();
        let mut depends_on = vec![Vec::new(); versions.len()];
        let mut dependents = vec![Vec::new(); versions.len()];
        let mut reversible = Vec::with_capacity(versions.len());
        for (i, node) in by_version.values().enumerate() {
            reversible.push(node.reversible);
            for dependency in &node.depends_on {
                match index.get(dependency) {
                    Some(&d) if !depends_on[i].contains(&d) => {
                        depends_on[i].push(d);
                        dependents[d].push(i);
                    }
                    Some(_) => {}
                    None => {
                        problems.push(GraphProblem::UnknownDependency { version: node.version, missing: *dependency })
                    }
                }
            }
        }
        let order = canonical_order(&depends_on, &dependents);
        if order.len() < versions.len() {
            problems.extend(find_cycles(&versions, &depends_on, &dependents, &order));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut position = vec![0; versions.len()];
        for (place, &node) in order.iter().enumerate() {
            position[node] = place;
        }
        Ok(Graph { versions, index, depends_on, dependents, reversible, order, position })
    }

    pub fn len(&self) -> usize {
        self.versions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    pub fn contains(&self, version: Version) -> bool {
        self.index.contains_key(&version)
    }

    /// Every version in canonical order.
    pub fn order(&self) -> impl Iterator<Item = Version> + '_ {
        self.order.iter().map(|&i| self.versions[i])
    }

    /// Plans what to apply: every pending migration, or only `target` and
    /// what it depends on, in canonical order.
    pub fn plan_apply(&self, applied: &[Version], target: Option<Version>) -> Result<Vec<PlannedStep>, PlanError> {
        let wanted = match target {
            None => vec![true; self.len()],
            Some(target) => {
                let &t = self.index.get(&target).ok_or(PlanError::UnknownVersion(target))?;
                self.ancestors_inclusive(t)
            }
        };
        let mut is_applied = vec![false; self.len()];
        for version in applied {
            if let Some(&i) = self.index.get(version) {
                is_applied[i] = true;
            }
        }
        let newest_applied = applied.iter().max().copied();
        Ok(self
            .order
            .iter()
            .filter(|&&i| wanted[i] && !is_applied[i])
            .map(|&i| PlannedStep {
                version: self.versions[i],
                out_of_order: newest_applied.is_some_and(|newest| self.versions[i] < newest),
            })
            .collect())
    }

    /// Plans what to revert, dependents before what they depend on.
    /// `applied` lists the applied versions in the order they were applied.
    pub fn plan_revert(&self, applied: &[Version], target: RevertTarget) -> Result<Vec<Version>, PlanError> {
        let mut is_applied = vec![false; self.len()];
        for version in applied {
            if let Some(&i) = self.index.get(version) {
                is_applied[i] = true;
            }
        }
        let mut selected = vec![false; self.len()];
        match target {
            RevertTarget::Steps(steps) => {
                for version in applied.iter().rev().take(steps) {
                    let &i = self.index.get(version).ok_or(PlanError::NotInGraph(*version))?;
                    selected[i] = true;
                }
                // Anything applied that depends on a selected migration goes first.
                let mut stack: Vec<usize> = (0..self.len()).filter(|&i| selected[i]).collect();
                while let Some(node) = stack.pop() {
                    for &dependent in &self.dependents[node] {
                        if is_applied[dependent] && !selected[dependent] {
                            selected[dependent] = true;
                            stack.push(dependent);
                        }
                    }
                }
            }
            RevertTarget::To(target) => {
                let &t = self.index.get(&target).ok_or(PlanError::UnknownVersion(target))?;
                if !is_applied[t] {
                    return Err(PlanError::NotApplied(target));
                }
                for i in 0..self.len() {
                    selected[i] = is_applied[i] && self.position[i] > self.position[t];
                }
            }
        }
        let plan: Vec<Version> = self.order.iter().rev().filter(|&&i| selected[i]).map(|&i| self.versions[i]).collect();
        if let Some(&irreversible) = plan.iter().find(|v| !self.reversible[self.index[v]]) {
            return Err(PlanError::Irreversible(irreversible));
        }
        Ok(plan)
    }

    /// The versions `version` depends on directly.
    pub fn dependencies_of(&self, version: Version) -> Vec<Version> {
        match self.index.get(&version) {
            None => Vec::new(),
            Some(&i) => self.depends_on[i].iter().map(|&d| self.versions[d]).collect(),
        }
    }

    fn ancestors_inclusive(&self, node: usize) -> Vec<bool> {
        let mut seen = vec![false; self.len()];
        let mut stack = vec![node];
        seen[node] = true;
        while let Some(current) = stack.pop() {
            for &dependency in &self.depends_on[current] {
                if !seen[dependency] {
                    seen[dependency] = true;
                    stack.push(dependency);
                }
            }
        }
        seen
    }
}

/// Kahn's algorithm, lowest version first among the ready nodes (node indices
/// follow version order). Nodes on or behind a cycle are left out.
fn canonical_order(depends_on: &[Vec<usize>], dependents: &[Vec<usize>]) -> Vec<usize> {
    let mut waiting_on: Vec<usize> = depends_on.iter().map(Vec::len).collect();
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..depends_on.len()).filter(|&i| waiting_on[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(depends_on.len());
    while let Some(Reverse(node)) = ready.pop() {
        order.push(node);
        for &dependent in &dependents[node] {
            waiting_on[dependent] -= 1;
            if waiting_on[dependent] == 0 {
                ready.push(Reverse(dependent));
            }
        }
    }
    order
}

/// Finds a cycle among the nodes the ordering could not place, one per knot.
fn find_cycles(
    versions: &[Version],
    depends_on: &[Vec<usize>],
    dependents: &[Vec<usize>],
    order: &[usize],
) -> Vec<GraphProblem> {
    let mut unplaced = vec![true; versions.len()];
    for &node in order {
        unplaced[node] = false;
    }
    let mut reported = vec![false; versions.len()];
    let mut problems = Vec::new();
    for start in 0..versions.len() {
        if !unplaced[start] || reported[start] {
            continue;
        }
        // Every unplaced node has an unplaced dependency, so this walk must revisit a node.
        let mut path = vec![start];
        let mut seen_at: HashMap<usize, usize> = HashMap::from([(start, 0)]);
        let cycle_start = loop {
            let current = *path.last().expect("path starts non-empty");
            let next = *depends_on[current]
                .iter()
                .filter(|&&d| unplaced[d])
                .min()
                .expect("an unplaced node waits on an unplaced dependency");
            if let Some(&at) = seen_at.get(&next) {
                break at;
            }
            seen_at.insert(next, path.len());
            path.push(next);
        };
        let cycle: Vec<usize> = path[cycle_start..].to_vec();
        let already_reported = cycle.iter().any(|&n| reported[n]);
        // Mark the cycle and everything that waits on it.
        let mut stack = cycle.clone();
        while let Some(node) = stack.pop() {
            if !reported[node] {
                reported[node] = true;
                stack.extend(dependents[node].iter().copied().filter(|&d| unplaced[d]));
            }
        }
        for &node in &path {
            reported[node] = true;
        }
        if !already_reported {
            problems.push(GraphProblem::Cycle { path: cycle.iter().map(|&i| versions[i]).collect() });
        }
    }
    problems
}

#[cfg(test)]
mod tests;
