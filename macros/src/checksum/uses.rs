//! `use` declarations in one canonical shape: every import on its own
//! (`use a::{b, c::{d}}` is `use a::b; use a::c::d;`), `a::{self}` as `a`,
//! sorted and without duplicates. rustfmt merges, splits, regroups and
//! reorders imports (`imports_granularity`, `group_imports`, `reorder_imports`);
//! none of that changes what a block or module can name.

use proc_macro2::Span;
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::{Ident, ItemUse, UseGroup, UseName, UsePath, UseRename, UseTree};

/// Every import of `uses`, one per declaration, in a stable order.
pub(super) fn flatten(uses: Vec<ItemUse>) -> Vec<ItemUse> {
    let mut flat: Vec<(String, ItemUse)> = Vec::new();
    for item in uses {
        let mut leaves = Vec::new();
        collect(&item.tree, &mut Vec::new(), &mut leaves);
        for tree in leaves {
            let single = ItemUse { tree, ..item.clone() };
            flat.push((single.to_token_stream().to_string(), single));
        }
    }
    flat.sort_by(|a, b| a.0.cmp(&b.0));
    flat.dedup_by(|a, b| a.0 == b.0);
    flat.into_iter().map(|(_, item)| item).collect()
}

/// Pushes one tree per import under `tree`, each with `prefix` in front.
fn collect(tree: &UseTree, prefix: &mut Vec<Ident>, out: &mut Vec<UseTree>) {
    match tree {
        UseTree::Path(path) => {
            prefix.push(path.ident.clone());
            collect(&path.tree, prefix, out);
            prefix.pop();
        }
        UseTree::Group(group) if group.items.is_empty() => {
            // `use a::{};` imports nothing but still names `a`.
            out.push(with_prefix(
                prefix,
                UseTree::Group(UseGroup { brace_token: group.brace_token, items: Punctuated::new() }),
            ));
        }
        UseTree::Group(group) => group.items.iter().for_each(|item| collect(item, prefix, out)),
        UseTree::Name(name) if name.ident == "self" && !prefix.is_empty() => {
            let mut parent = prefix.clone();
            let ident = parent.pop().expect("checked non-empty");
            out.push(with_prefix(&parent, UseTree::Name(UseName { ident })));
        }
        UseTree::Rename(rename) if rename.ident == "self" && !prefix.is_empty() => {
            let mut parent = prefix.clone();
            let ident = parent.pop().expect("checked non-empty");
            let leaf = UseRename { ident, ..rename.clone() };
            out.push(with_prefix(&parent, UseTree::Rename(leaf)));
        }
        leaf => out.push(with_prefix(prefix, leaf.clone())),
    }
}

fn with_prefix(prefix: &[Ident], leaf: UseTree) -> UseTree {
    prefix.iter().rev().fold(leaf, |tree, ident| {
        UseTree::Path(UsePath {
            ident: ident.clone(),
            colon2_token: syn::Token![::](Span::call_site()),
            tree: Box::new(tree),
        })
    })
}
