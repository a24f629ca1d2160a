//! The planner: turns the dependency graph, the applied history and a target
//! into ordered steps. Pure code with no I/O.
//!
//! The canonical order is a topological order of the graph in which, whenever
//! several migrations are ready, the lowest version goes first. It depends only
//! on the set of migrations and their edges, never on the order they were
//! registered in.

use crate::version::Version;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// One migration as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The migration's version.
    pub version: Version,
    /// The versions it must run after.
    pub depends_on: Vec<Version>,
    /// Whether it has a `down`.
    pub reversible: bool,
}

/// Why a set of nodes is not a graph the planner can order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphProblem {
    /// Two migrations have the same version.
    Duplicate {
        /// The version given twice.
        version: Version,
    },
    /// A migration depends on a version no migration has.
    UnknownDependency {
        /// The migration that names the dependency.
        version: Version,
        /// The version it names.
        missing: Version,
    },
    /// `path[0]` depends on `path[1]`, ..., and the last depends on `path[0]`.
    Cycle {
        /// The versions on the cycle, in dependency order.
        path: Vec<Version>,
    },
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// The target is not a migration of the graph.
    UnknownVersion(Version),
    /// The target is not applied, so there is nothing to revert to.
    NotApplied(Version),
    /// The plan would revert this irreversible migration.
    Irreversible(Version),
    /// An applied migration the plan would revert is not in the graph.
    NotInGraph(Version),
}

/// How far to revert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevertTarget {
    /// The last N applied migrations, plus any applied dependents of them.
    Steps(usize),
    /// Everything applied after this version in the canonical order; the version itself stays.
    To(Version),
    /// These applied migrations, plus any applied dependents of them.
    Versions(Vec<Version>),
}

/// One migration to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedStep {
    /// The migration's version.
    pub version: Version,
    /// Older than a migration that is already applied.
    pub out_of_order: bool,
}

/// The dependency graph of the migrations, checked to be acyclic.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Sorted: a node's index is found by binary search.
    versions: Vec<Version>,
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
        let mut nodes: Vec<Node> = nodes.into_iter().collect();
        // Stable: of two nodes with one version, the later one is kept, as a map insert would.
        nodes.sort_by_key(|node| node.version);
        let mut problems = Vec::new();
        let mut unique: Vec<Node> = Vec::with_capacity(nodes.len());
        for node in nodes {
            match unique.last_mut() {
                Some(last) if last.version == node.version => {
                    problems.push(GraphProblem::Duplicate { version: node.version });
                    *last = node;
                }
                _ => unique.push(node),
            }
        }
        let versions: Vec<Version> = unique.iter().map(|node| node.version).collect();
        let mut depends_on = vec![Vec::new(); versions.len()];
        let mut dependents = vec![Vec::new(); versions.len()];
        let mut reversible = Vec::with_capacity(versions.len());
        for (i, node) in unique.iter().enumerate() {
            reversible.push(node.reversible);
            for dependency in &node.depends_on {
                match versions.binary_search(dependency).ok() {
                    Some(d) if !depends_on[i].contains(&d) => {
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
        Ok(Graph { versions, depends_on, dependents, reversible, order, position })
    }

    /// The node index of `version`.
    fn index_of(&self, version: &Version) -> Option<usize> {
        self.versions.binary_search(version).ok()
    }

    /// How many migrations the graph holds.
    pub fn len(&self) -> usize {
        self.versions.len()
    }

    /// Whether the graph holds no migration.
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    /// Whether `version` is a migration of the graph.
    pub fn contains(&self, version: Version) -> bool {
        self.index_of(&version).is_some()
    }

    /// The place of `version` in canonical order, when the graph holds it.
    pub fn position_of(&self, version: Version) -> Option<usize> {
        self.index_of(&version).map(|i| self.position[i])
    }

    /// The place in canonical order of the latest of `versions` there; versions not in the graph are skipped.
    pub fn last_position(&self, versions: &[Version]) -> Option<usize> {
        versions.iter().filter_map(|v| self.index_of(v)).map(|i| self.position[i]).max()
    }

    /// Whether `version`, not applied, comes before the latest of `applied` in
    /// canonical order: applying it now runs it out of order.
    pub fn is_out_of_order(&self, version: Version, applied: &[Version]) -> bool {
        match (self.index_of(&version), self.last_position(applied)) {
            (Some(i), Some(last)) => self.position[i] < last,
            _ => false,
        }
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
                let t = self.index_of(&target).ok_or(PlanError::UnknownVersion(target))?;
                self.ancestors_inclusive(t)
            }
        };
        let mut is_applied = vec![false; self.len()];
        for version in applied {
            if let Some(i) = self.index_of(version) {
                is_applied[i] = true;
            }
        }
        let last_applied = self.last_position(applied);
        Ok(self
            .order
            .iter()
            .filter(|&&i| wanted[i] && !is_applied[i])
            .map(|&i| PlannedStep {
                version: self.versions[i],
                out_of_order: last_applied.is_some_and(|last| self.position[i] < last),
            })
            .collect())
    }

    /// Plans what to revert, dependents before what they depend on; refused
    /// when the plan holds an irreversible migration.
    /// `applied` lists the applied versions in the order they were applied.
    pub fn plan_revert(&self, applied: &[Version], target: RevertTarget) -> Result<Vec<Version>, PlanError> {
        let plan = self.revert_order(applied, target)?;
        match plan.iter().find(|v| !self.is_reversible(v)) {
            Some(&irreversible) => Err(PlanError::Irreversible(irreversible)),
            None => Ok(plan),
        }
    }

    /// Like [`Graph::plan_revert`], but a plan that meets an irreversible
    /// migration is cut there: the steps before it (everything after it in
    /// canonical order, which includes whatever depends on it), and the
    /// irreversible migration where the revert stops.
    pub fn plan_revert_until_irreversible(
        &self,
        applied: &[Version],
        target: RevertTarget,
    ) -> Result<(Vec<Version>, Option<Version>), PlanError> {
        let mut plan = self.revert_order(applied, target)?;
        match plan.iter().position(|v| !self.is_reversible(v)) {
            Some(stop) => {
                let irreversible = plan[stop];
                plan.truncate(stop);
                Ok((plan, Some(irreversible)))
            }
            None => Ok((plan, None)),
        }
    }

    fn is_reversible(&self, version: &Version) -> bool {
        self.index_of(version).is_some_and(|i| self.reversible[i])
    }

    /// What reverting `target` takes, in reverse canonical order.
    fn revert_order(&self, applied: &[Version], target: RevertTarget) -> Result<Vec<Version>, PlanError> {
        let mut is_applied = vec![false; self.len()];
        for version in applied {
            if let Some(i) = self.index_of(version) {
                is_applied[i] = true;
            }
        }
        let mut selected = vec![false; self.len()];
        match target {
            RevertTarget::Steps(_) | RevertTarget::Versions(_) => {
                let chosen: Vec<Version> = match target {
                    RevertTarget::Steps(steps) => applied.iter().rev().take(steps).copied().collect(),
                    RevertTarget::Versions(versions) => versions,
                    RevertTarget::To(_) => unreachable!("matched above"),
                };
                for version in &chosen {
                    let i = self.index_of(version).ok_or(PlanError::NotInGraph(*version))?;
                    if !is_applied[i] {
                        return Err(PlanError::NotApplied(*version));
                    }
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
                let t = self.index_of(&target).ok_or(PlanError::UnknownVersion(target))?;
                if !is_applied[t] {
                    return Err(PlanError::NotApplied(target));
                }
                for i in 0..self.len() {
                    selected[i] = is_applied[i] && self.position[i] > self.position[t];
                }
            }
        }
        Ok(self.order.iter().rev().filter(|&&i| selected[i]).map(|&i| self.versions[i]).collect())
    }

    /// The versions `version` depends on directly.
    pub fn dependencies_of(&self, version: Version) -> Vec<Version> {
        match self.index_of(&version) {
            None => Vec::new(),
            Some(i) => self.depends_on[i].iter().map(|&d| self.versions[d]).collect(),
        }
    }

    /// Everything `version` depends on, directly or not.
    pub fn ancestors(&self, version: Version) -> impl Iterator<Item = Version> + '_ {
        let seen = match self.index_of(&version) {
            Some(i) => {
                let mut seen = self.ancestors_inclusive(i);
                seen[i] = false;
                seen
            }
            None => vec![false; self.len()],
        };
        (0..self.len()).filter(move |&i| seen[i]).map(|i| self.versions[i])
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
    // The usual case: every migration depends on older ones only. The lowest
    // unplaced node then always has its dependencies placed, so it is the
    // lowest ready one, and the order is the version order.
    if depends_on.iter().enumerate().all(|(node, dependencies)| dependencies.iter().all(|&d| d < node)) {
        return (0..depends_on.len()).collect();
    }
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

/// Reports one cycle for each strongly connected knot among the nodes the
/// ordering could not place (a node behind a cycle is unplaced without being on one).
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
    let component = strongly_connected(&unplaced, depends_on, dependents);
    let mut reported = std::collections::HashSet::new();
    let mut problems = Vec::new();
    for start in (0..versions.len()).filter(|&n| unplaced[n]) {
        let knot = component[start];
        let in_knot = |n: &usize| unplaced[*n] && component[*n] == knot;
        let on_cycle = depends_on[start].iter().any(in_knot);
        if !on_cycle || !reported.insert(knot) {
            continue;
        }
        // Walk inside the knot, lowest dependency first, until a node repeats.
        let mut path = vec![start];
        let mut seen_at: HashMap<usize, usize> = HashMap::from([(start, 0)]);
        let cycle_start = loop {
            let current = *path.last().expect("path starts non-empty");
            let next = *depends_on[current]
                .iter()
                .filter(|d| in_knot(d))
                .min()
                .expect("a knot node has a dependency in its knot");
            if let Some(&at) = seen_at.get(&next) {
                break at;
            }
            seen_at.insert(next, path.len());
            path.push(next);
        };
        problems.push(GraphProblem::Cycle { path: path[cycle_start..].iter().map(|&i| versions[i]).collect() });
    }
    problems
}

/// Kosaraju's algorithm over the unplaced nodes: a component number per node.
fn strongly_connected(unplaced: &[bool], depends_on: &[Vec<usize>], dependents: &[Vec<usize>]) -> Vec<usize> {
    let nodes = unplaced.len();
    let mut finished = Vec::with_capacity(nodes);
    let mut visited = vec![false; nodes];
    for root in (0..nodes).filter(|&n| unplaced[n]) {
        if visited[root] {
            continue;
        }
        visited[root] = true;
        let mut stack = vec![(root, 0usize)];
        while let Some((node, next_edge)) = stack.pop() {
            match depends_on[node].get(next_edge) {
                Some(&dependency) => {
                    stack.push((node, next_edge + 1));
                    if unplaced[dependency] && !visited[dependency] {
                        visited[dependency] = true;
                        stack.push((dependency, 0));
                    }
                }
                None => finished.push(node),
            }
        }
    }
    let mut component = vec![usize::MAX; nodes];
    for (number, &root) in finished.iter().rev().enumerate() {
        if component[root] != usize::MAX {
            continue;
        }
        component[root] = number;
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            for &dependent in &dependents[node] {
                if unplaced[dependent] && component[dependent] == usize::MAX {
                    component[dependent] = number;
                    stack.push(dependent);
                }
            }
        }
    }
    component
}

#[cfg(test)]
mod tests;
