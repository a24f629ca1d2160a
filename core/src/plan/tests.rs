use super::*;
use proptest::prelude::*;
use std::collections::HashSet;

fn v(n: u64) -> Version {
    Version::from_checked(n)
}

fn node(version: u64, deps: &[u64]) -> Node {
    Node { version: v(version), depends_on: deps.iter().map(|&d| v(d)).collect(), reversible: true }
}

fn versions(list: &[u64]) -> Vec<Version> {
    list.iter().map(|&n| v(n)).collect()
}

/// 1 <- 2 <- 4, 1 <- 3 <- 4 (two branches and a merge), plus 5 on its own.
fn diamond() -> Graph {
    Graph::new([node(1, &[]), node(2, &[1]), node(3, &[1]), node(4, &[2, 3]), node(5, &[])]).unwrap()
}

#[test]
fn orders_by_dependencies_then_version() {
    let graph = Graph::new([node(10, &[30]), node(20, &[]), node(30, &[])]).unwrap();
    assert_eq!(graph.order().collect::<Vec<_>>(), versions(&[20, 30, 10]));
}

#[test]
fn plans_everything_pending_in_order() {
    let plan = diamond().plan_apply(&versions(&[1, 3]), None).unwrap();
    let planned: Vec<_> = plan.iter().map(|s| s.version).collect();
    assert_eq!(planned, versions(&[2, 4, 5]));
    assert!(plan[0].out_of_order, "2 is older than the applied 3");
    assert!(!plan[1].out_of_order);
}

#[test]
fn plans_a_target_and_its_ancestors_only() {
    let plan = diamond().plan_apply(&[], Some(v(2))).unwrap();
    assert_eq!(plan.iter().map(|s| s.version).collect::<Vec<_>>(), versions(&[1, 2]));
    assert_eq!(diamond().plan_apply(&[], Some(v(99))), Err(PlanError::UnknownVersion(v(99))));
}

#[test]
fn reverts_dependents_first() {
    let graph = diamond();
    let applied = versions(&[1, 2, 3, 4, 5]);
    assert_eq!(graph.plan_revert(&applied, RevertTarget::Steps(2)).unwrap(), versions(&[5, 4]));
    // Reverting 1 by steps pulls in everything that depends on it.
    assert_eq!(graph.plan_revert(&versions(&[1, 2, 3, 4]), RevertTarget::Steps(4)).unwrap(), versions(&[4, 3, 2, 1]));
    assert_eq!(graph.plan_revert(&versions(&[5, 1, 2]), RevertTarget::Steps(1)).unwrap(), versions(&[2]));
    assert_eq!(graph.plan_revert(&versions(&[5, 2, 1]), RevertTarget::Steps(1)).unwrap(), versions(&[2, 1]));
}

#[test]
fn reverts_to_a_target_keeping_it() {
    let graph = diamond();
    let applied = versions(&[1, 2, 3, 4, 5]);
    assert_eq!(graph.plan_revert(&applied, RevertTarget::To(v(2))).unwrap(), versions(&[5, 4, 3]));
    assert_eq!(graph.plan_revert(&applied, RevertTarget::To(v(5))).unwrap(), Vec::<Version>::new());
    assert_eq!(graph.plan_revert(&versions(&[1]), RevertTarget::To(v(2))), Err(PlanError::NotApplied(v(2))));
}

#[test]
fn refuses_to_revert_an_irreversible_migration() {
    let mut nodes = vec![node(1, &[]), node(2, &[1]), node(3, &[2])];
    nodes[1].reversible = false;
    let graph = Graph::new(nodes).unwrap();
    let applied = versions(&[1, 2, 3]);
    assert_eq!(graph.plan_revert(&applied, RevertTarget::Steps(1)).unwrap(), versions(&[3]));
    assert_eq!(graph.plan_revert(&applied, RevertTarget::Steps(2)), Err(PlanError::Irreversible(v(2))));
    assert_eq!(graph.plan_revert(&applied, RevertTarget::To(v(1))), Err(PlanError::Irreversible(v(2))));
}

#[test]
fn a_revert_that_meets_an_irreversible_migration_stops_there() {
    // 4 does not depend on 2 but is newer: it is reverted before the stop too.
    let mut nodes = vec![node(1, &[]), node(2, &[1]), node(3, &[2]), node(4, &[1])];
    nodes[1].reversible = false;
    let graph = Graph::new(nodes).unwrap();
    let applied = versions(&[1, 2, 3, 4]);
    let partial = |target| graph.plan_revert_until_irreversible(&applied, target).unwrap();
    assert_eq!(partial(RevertTarget::Steps(1)), (versions(&[4]), None));
    assert_eq!(partial(RevertTarget::Steps(4)), (versions(&[4, 3]), Some(v(2))));
    assert_eq!(partial(RevertTarget::To(v(1))), (versions(&[4, 3]), Some(v(2))));
    assert_eq!(partial(RevertTarget::Versions(versions(&[2]))), (versions(&[3]), Some(v(2))));
}

#[test]
fn refuses_to_revert_what_is_not_in_the_graph() {
    let applied = versions(&[1, 77]);
    assert_eq!(diamond().plan_revert(&applied, RevertTarget::Steps(1)), Err(PlanError::NotInGraph(v(77))));
}

#[test]
fn reports_duplicates_unknown_dependencies_and_cycles() {
    let problems = Graph::new([
        node(1, &[]),
        node(1, &[]),
        node(2, &[9]),
        node(3, &[5]),
        node(4, &[3]),
        node(5, &[4]),
        node(6, &[5]),
    ])
    .unwrap_err();
    assert!(problems.contains(&GraphProblem::Duplicate { version: v(1) }));
    assert!(problems.contains(&GraphProblem::UnknownDependency { version: v(2), missing: v(9) }));
    let cycles: Vec<_> = problems.iter().filter(|p| matches!(p, GraphProblem::Cycle { .. })).collect();
    assert_eq!(cycles, [&GraphProblem::Cycle { path: versions(&[3, 5, 4]) }], "one cycle, reported once");
}

#[test]
fn reports_a_cycle_that_sits_behind_another() {
    // 1 <-> 2, and 3 <-> 4 where 3 also depends on the first cycle.
    let problems =
        Graph::new([node(1, &[2]), node(2, &[1]), node(3, &[1, 4]), node(4, &[3]), node(5, &[4])]).unwrap_err();
    assert_eq!(
        problems,
        [GraphProblem::Cycle { path: versions(&[1, 2]) }, GraphProblem::Cycle { path: versions(&[3, 4]) }]
    );
}

#[test]
fn reports_a_self_loop_as_a_cycle() {
    let problems = Graph::new([node(1, &[1])]).unwrap_err();
    assert_eq!(problems, [GraphProblem::Cycle { path: versions(&[1]) }]);
}

/// A random DAG: node i may depend on any node with a smaller index; versions are shuffled.
fn random_dag() -> impl Strategy<Value = Vec<Node>> {
    (1usize..=500).prop_flat_map(|size| {
        (
            Just(size),
            proptest::collection::vec(proptest::collection::vec(any::<prop::sample::Index>(), 0..4), size),
            Just((0..size as u64).map(|i| 20_000_000_000_000 + i * 7).collect::<Vec<_>>()).prop_shuffle(),
            proptest::collection::vec(any::<bool>(), size),
        )
            .prop_map(|(size, edges, versions, reversible)| {
                (0..size)
                    .map(|i| Node {
                        version: v(versions[i]),
                        depends_on: if i == 0 {
                            Vec::new()
                        } else {
                            edges[i].iter().map(|e| v(versions[e.index(i)])).collect()
                        },
                        // Most nodes are reversible so that revert plans are exercised.
                        reversible: reversible[i] || i % 5 != 0,
                    })
                    .collect()
            })
    })
}

/// The picked nodes plus everything they depend on, in an order they can be applied in:
/// an applied history that need not be a prefix of the canonical order.
fn dependency_closed(graph: &Graph, nodes: &[Node], picks: &[bool]) -> Vec<Version> {
    let deps: HashMap<Version, &Vec<Version>> = nodes.iter().map(|n| (n.version, &n.depends_on)).collect();
    let mut chosen: HashSet<Version> = HashSet::new();
    let mut stack: Vec<Version> = nodes.iter().zip(picks).filter(|(_, pick)| **pick).map(|(n, _)| n.version).collect();
    while let Some(version) = stack.pop() {
        if chosen.insert(version) {
            stack.extend(deps[&version].iter().copied());
        }
    }
    graph.order().filter(|v| chosen.contains(v)).collect()
}

fn ancestors_inclusive(nodes: &[Node], target: Version) -> HashSet<Version> {
    let deps: HashMap<Version, &Vec<Version>> = nodes.iter().map(|n| (n.version, &n.depends_on)).collect();
    let mut seen = HashSet::new();
    let mut stack = vec![target];
    while let Some(version) = stack.pop() {
        if seen.insert(version) {
            stack.extend(deps[&version].iter().copied());
        }
    }
    seen
}

fn position_of(plan: &[Version]) -> HashMap<Version, usize> {
    plan.iter().enumerate().map(|(i, v)| (*v, i)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn order_respects_every_edge_and_ignores_input_order(nodes in random_dag(), seed in any::<u64>()) {
        let graph = Graph::new(nodes.clone()).unwrap();
        let order: Vec<Version> = graph.order().collect();
        prop_assert_eq!(order.len(), nodes.len());
        let position = position_of(&order);
        for node in &nodes {
            for dependency in &node.depends_on {
                prop_assert!(position[dependency] < position[&node.version]);
            }
        }
        let mut shuffled = nodes.clone();
        shuffle(&mut shuffled, seed);
        let again: Vec<Version> = Graph::new(shuffled).unwrap().order().collect();
        prop_assert_eq!(order, again);
    }

    #[test]
    fn the_order_takes_the_lowest_ready_version_first(nodes in random_dag()) {
        let graph = Graph::new(nodes.clone()).unwrap();
        let order: Vec<Version> = graph.order().collect();
        let mut placed: HashSet<Version> = HashSet::new();
        for version in &order {
            let lowest_ready = nodes
                .iter()
                .filter(|n| !placed.contains(&n.version) && n.depends_on.iter().all(|d| placed.contains(d)))
                .map(|n| n.version)
                .min();
            prop_assert_eq!(Some(*version), lowest_ready);
            placed.insert(*version);
        }
    }

    #[test]
    fn apply_plans_are_complete_and_respect_every_edge(
        nodes in random_dag(),
        picks in proptest::collection::vec(prop::bool::weighted(0.3), 500),
        target in any::<prop::sample::Index>(),
    ) {
        let graph = Graph::new(nodes.clone()).unwrap();
        let applied = dependency_closed(&graph, &nodes, &picks[..nodes.len()]);
        let applied_set: HashSet<Version> = applied.iter().copied().collect();
        let target = nodes[target.index(nodes.len())].version;
        let everything: HashSet<Version> = nodes.iter().map(|n| n.version).collect();
        for (plan, wanted) in [
            (graph.plan_apply(&applied, None).unwrap(), everything),
            (graph.plan_apply(&applied, Some(target)).unwrap(), ancestors_inclusive(&nodes, target)),
        ] {
            let planned: Vec<Version> = plan.iter().map(|s| s.version).collect();
            let expected: HashSet<Version> = wanted.difference(&applied_set).copied().collect();
            prop_assert_eq!(planned.iter().copied().collect::<HashSet<_>>(), expected, "plans exactly what is wanted and pending");
            prop_assert_eq!(planned.len(), plan.len());
            let position = position_of(&planned);
            for step in &plan {
                let canonical: Vec<Version> = graph.order().collect();
                let place = |v: &Version| canonical.iter().position(|c| c == v).unwrap();
                let last = applied.iter().map(place).max();
                prop_assert_eq!(step.out_of_order, last.is_some_and(|last| place(&step.version) < last));
                for dependency in &nodes.iter().find(|n| n.version == step.version).unwrap().depends_on {
                    prop_assert!(applied_set.contains(dependency) || position[dependency] < position[&step.version]);
                }
            }
        }
    }

    #[test]
    fn apply_then_revert_returns_to_the_start(nodes in random_dag(), applied_share in 0usize..100) {
        let all_reversible: Vec<Node> = nodes.into_iter().map(|n| Node { reversible: true, ..n }).collect();
        let graph = Graph::new(all_reversible).unwrap();
        let order: Vec<Version> = graph.order().collect();
        let start: Vec<Version> = order[..order.len() * applied_share / 100].to_vec();
        let plan = graph.plan_apply(&start, None).unwrap();
        let mut applied = start.clone();
        applied.extend(plan.iter().map(|s| s.version));
        let revert = graph.plan_revert(&applied, RevertTarget::Steps(plan.len())).unwrap();
        // Dependents are reverted before what they depend on.
        let position = position_of(&revert);
        for version in &revert {
            for dependency in graph.dependencies_of(*version) {
                if let Some(p) = position.get(&dependency) {
                    prop_assert!(position[version] < *p);
                }
            }
        }
        let reverted: HashSet<Version> = revert.iter().copied().collect();
        let remaining: HashSet<Version> = applied.iter().copied().filter(|v| !reverted.contains(v)).collect();
        prop_assert_eq!(remaining, start.iter().copied().collect::<HashSet<_>>());
    }

    #[test]
    fn revert_plans_are_complete_and_never_leave_a_dependent_behind(
        nodes in random_dag(),
        picks in proptest::collection::vec(prop::bool::weighted(0.6), 500),
        steps in 0usize..50,
        target in any::<prop::sample::Index>(),
    ) {
        let graph = Graph::new(nodes.clone()).unwrap();
        let applied = dependency_closed(&graph, &nodes, &picks[..nodes.len()]);
        prop_assume!(!applied.is_empty());
        let target = applied[target.index(applied.len())];
        let order: Vec<Version> = graph.order().collect();
        let order_position = position_of(&order);
        let after_target: HashSet<Version> =
            applied.iter().copied().filter(|v| order_position[v] > order_position[&target]).collect();
        let last_steps: HashSet<Version> = applied.iter().rev().take(steps).copied().collect();
        let plans = [
            (graph.plan_revert(&applied, RevertTarget::Steps(steps)), Some(last_steps), None),
            (graph.plan_revert(&applied, RevertTarget::To(target)), None, Some(after_target)),
        ];
        for (plan, at_least, exactly) in plans {
            match plan {
                Ok(revert) => {
                    let reverted: HashSet<Version> = revert.iter().copied().collect();
                    prop_assert_eq!(reverted.len(), revert.len(), "each migration once");
                    if let Some(at_least) = at_least {
                        prop_assert!(at_least.is_subset(&reverted), "the last N applied are reverted");
                    }
                    if let Some(exactly) = exactly {
                        prop_assert_eq!(&reverted, &exactly, "everything after the target, and only that");
                    }
                    let applied_set: HashSet<Version> = applied.iter().copied().collect();
                    prop_assert!(reverted.is_subset(&applied_set), "only applied migrations are reverted");
                    for node in &nodes {
                        for dependency in &node.depends_on {
                            // Nothing stays applied whose dependency was reverted.
                            let still_applied = applied_set.contains(&node.version) && !reverted.contains(&node.version);
                            prop_assert!(!(reverted.contains(dependency) && still_applied));
                        }
                    }
                }
                Err(PlanError::Irreversible(version)) => {
                    prop_assert!(!nodes.iter().find(|n| n.version == version).unwrap().reversible);
                }
                Err(other) => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }
}

/// A deterministic Fisher-Yates shuffle from a seed (xorshift).
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    seed |= 1;
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}
