//! Graph algorithms over the include graph (entries as `0..n`, edges as adjacency
//! lists): strongly connected components to find cycles, and a shortest path inside one
//! to name a cycle. Both iterative: a chain of thousands of includes must not overflow
//! the stack.

use std::collections::{HashMap, VecDeque};

/// Tarjan's strongly connected components, without recursion (a chain of thousands of
/// includes must not overflow the stack). Component numbers come out leaves first.
pub fn strongly_connected(adjacency: &[Vec<usize>]) -> Vec<usize> {
    const UNSEEN: usize = usize::MAX;
    let count = adjacency.len();
    let mut index = vec![UNSEEN; count];
    let mut low = vec![0; count];
    let mut on_stack = vec![false; count];
    let mut stack = Vec::new();
    let mut component = vec![UNSEEN; count];
    let mut next_index = 0;
    let mut components = 0;
    for start in 0..count {
        if index[start] != UNSEEN {
            continue;
        }
        let mut calls: Vec<(usize, usize)> = Vec::new();
        index[start] = next_index;
        low[start] = next_index;
        next_index += 1;
        stack.push(start);
        on_stack[start] = true;
        calls.push((start, 0));
        while let Some(&(node, position)) = calls.last() {
            if let Some(&next) = adjacency[node].get(position) {
                if let Some(call) = calls.last_mut() {
                    call.1 += 1;
                }
                if index[next] == UNSEEN {
                    index[next] = next_index;
                    low[next] = next_index;
                    next_index += 1;
                    stack.push(next);
                    on_stack[next] = true;
                    calls.push((next, 0));
                } else if on_stack[next] {
                    low[node] = low[node].min(index[next]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component[member] = components;
                    if member == node {
                        break;
                    }
                }
                components += 1;
            }
        }
    }
    component
}

/// The shortest include path from `from` to `to` inside one component, `from` and `to`
/// included (a self-include is just `[from]`).
pub fn path_within(
    adjacency: &[Vec<usize>],
    component: &[usize],
    from: usize,
    to: usize,
) -> Vec<usize> {
    let mut parent = HashMap::from([(from, from)]);
    let mut queue = VecDeque::from([from]);
    while let Some(node) = queue.pop_front() {
        if node == to {
            let mut path = vec![node];
            let mut at = node;
            while at != from {
                at = parent[&at];
                path.push(at);
            }
            path.reverse();
            return path;
        }
        for &next in &adjacency[node] {
            if component[next] == component[from] && !parent.contains_key(&next) {
                parent.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    vec![from, to]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_find_cycles_and_come_out_leaves_first() {
        // 0 → 1 → 2 → 1, 2 → 3
        let adjacency = vec![vec![1], vec![2], vec![1, 3], vec![]];
        let component = strongly_connected(&adjacency);
        assert_eq!(component[1], component[2]);
        assert_ne!(component[0], component[1]);
        assert!(component[3] < component[1] && component[1] < component[0]);
        assert_eq!(path_within(&adjacency, &component, 2, 1), vec![2, 1]);
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let count = 200_000;
        let adjacency: Vec<Vec<usize>> = (0..count)
            .map(|index| {
                if index + 1 < count {
                    vec![index + 1]
                } else {
                    vec![]
                }
            })
            .collect();
        let component = strongly_connected(&adjacency);
        assert_eq!(component[count - 1], 0);
        assert_eq!(component[0], count - 1);
    }
}
